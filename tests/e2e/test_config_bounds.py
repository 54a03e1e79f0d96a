"""Every number of the configuration has bounds, checked when it is loaded: a value out of them
stops the command with exit 2 and a message naming the key and what it must be, before anything
is read or written (a `park_days` of a million used to make every run fail later, a tolerance
of `1e999999999` made `report all` hang or crash). Text settings refuse control characters."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

RunCli = Callable[..., Result]

OUT_OF_BOUNDS = [
    ("park_days = 1000000", "park_days", "0 to 3650"),
    ("park_days = -1", "park_days", "0 to 3650"),
    ("max_file_size = 0", "max_file_size", "1 to 2147483648"),
    ("max_file_size = 99999999999", "max_file_size", "1 to 2147483648"),
    ('[reconciliation]\ntolerance_percent = "1e999999999"', "reconciliation.tolerance_percent", "0 to 100"),
    ('[reconciliation]\ntolerance_percent = "100.5"', "reconciliation.tolerance_percent", "0 to 100"),
    ('[reconciliation]\ntolerance_amount = "1e999999999"', "reconciliation.tolerance_amount", "0 to 1000000000"),
    ('[reconciliation]\ntolerance_amount = "0.0000001"', "reconciliation.tolerance_amount", "at most 6 decimals"),
    ('[reconciliation]\ntolerance_amount = "NaN"', "reconciliation.tolerance_amount", "0 to 1000000000"),
    ('[reconciliation]\ntolerance_amount = "-1"', "reconciliation.tolerance_amount", "0 to 1000000000"),
    ("helpers = 17", "helpers", "0 to 16"),
    ("[watch]\nrescan_seconds = 0", "watch.rescan_seconds", "1 to 86400"),
    ("[watch]\nclose_timeout_seconds = 1e9", "watch.close_timeout_seconds", "1 to 86400"),
    ('[[partners]]\nname = "ac\\u0000me"', "partners[0].name", "no control character"),
    ('[[partners]]\nname = "ac\\u001b[31mme"', "partners[0].name", "no control character"),
    ('[[partners]]\nname = ".."', "partners[0].name", "a folder name"),
    (f'[[partners]]\nname = "{"x" * 256}"', "partners[0].name", "at most 255 bytes"),
    (
        '[[partners]]\nname = "acme"\n[[partners.rights]]\nstructure = "48215367300249"\n'
        'profile = "modification"\nservice = "a\\nb"',
        "partners[0].rights[0].service",
        "without control characters",
    ),
]


@pytest.mark.parametrize(("toml", "key", "bound"), OUT_OF_BOUNDS, ids=[c[1] + ":" + c[0][-12:] for c in OUT_OF_BOUNDS])
def test_a_value_out_of_bounds_stops_the_command_before_it_starts(
    workspace: Path, wcli: RunCli, toml: str, key: str, bound: str
) -> None:
    (workspace / "chorus-batch.toml").write_text(toml + "\n", encoding="utf-8")
    (workspace / "inbox" / "waiting.xml").write_bytes(b"<x/>")
    command = ("report", "all") if "tolerance" in key else ("run",)  # the commands that used to hang or crash
    result = wcli(*command)
    assert result.exit_code == 2, result.output + result.stderr
    assert f"key '{key}'" in result.stderr and bound in result.stderr, result.stderr
    assert "CONFIG_INVALID" in result.stderr and "Traceback" not in result.stderr
    assert (workspace / "inbox" / "waiting.xml").exists()  # nothing was taken


@pytest.mark.parametrize(
    "toml",
    [
        "park_days = 0\nmax_file_size = 1",
        "park_days = 3650\nmax_file_size = 2147483648",
        '[reconciliation]\ntolerance_amount = "1000000000"\ntolerance_percent = "100"',
        '[reconciliation]\ntolerance_amount = "0.000001"\ntolerance_percent = 0.5',
        '[[partners]]\nname = "Société Générale d\'Achats"',
    ],
)
def test_values_at_their_bounds_are_accepted(workspace: Path, wcli: RunCli, toml: str) -> None:
    (workspace / "chorus-batch.toml").write_text(toml + "\n", encoding="utf-8")
    result = wcli("run")
    assert result.exit_code == 0, result.output + result.stderr
