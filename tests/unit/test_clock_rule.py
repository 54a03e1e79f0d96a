"""The architecture test's clock rule fires (``_clock.clock_reads``): every form of import and
alias of the clock functions is found, called or passed on; dates, times and names of our own
pass."""

from __future__ import annotations

import pytest

from _clock import clock_reads


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from datetime import datetime\nx = datetime.now()", ["2: datetime.datetime.now"]),
        ("from datetime import datetime as DT\nx = DT.utcnow()", ["2: datetime.datetime.utcnow"]),
        ("import datetime\nx = datetime.datetime.now(datetime.UTC)", ["2: datetime.datetime.now"]),
        ("import datetime as dt\nx = dt.date.today()", ["2: datetime.date.today"]),
        ("from datetime import date\nx = date.today()", ["2: datetime.date.today"]),
        ("import time\nx = time.time()", ["2: time.time"]),
        ("import time as t\nx = t.monotonic()", ["2: time.monotonic"]),
        ("from time import perf_counter\nx = perf_counter()", ["2: time.perf_counter"]),
        ("from time import time as now\n\ndef f(clock=now):\n    return clock()", ["3: time.time"]),  # passed on
        (
            "import datetime, time\na = datetime.date.today()\nb = time.time()",
            ["2: datetime.date.today", "3: time.time"],
        ),
    ],
)
def test_the_clock_rule_fires(source: str, expected: list[str]) -> None:
    assert clock_reads(source) == expected


@pytest.mark.parametrize(
    "source",
    [
        "from datetime import date, datetime\n\ndef f(today: date) -> datetime:\n    return datetime(today.year, 1, 1)",
        "import datetime\nx = datetime.date(2026, 1, 5) + datetime.timedelta(days=1)",
        "from datetime import datetime\nx = datetime.fromisoformat('2026-01-05')",
        "import time\nx = time.strftime('%Y', time.gmtime(0))",
        "def now():\n    return 1\nx = now()\ntoday = 3",  # names of our own, not the clock
        "class Clock:\n    def time(self):\n        return 0\nx = Clock().time()",
    ],
)
def test_the_clock_rule_lets_dates_and_times_pass(source: str) -> None:
    assert clock_reads(source) == []
