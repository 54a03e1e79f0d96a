"""The engagement state machine (SPEC §3): the table in ``chorus_batch.domain.states`` and the
store that follows it.

* Definition checks on the table: one initial pseudo-state (``None``), every state reachable,
  final states without exits, a way out of every other state, an actor for every event, and the
  rows of SPEC §3 exactly.
* A property: any sequence of events through ``states.apply`` from ``None`` either gives a state
  or raises ``TransitionNotAllowed``, and the state only ever changes along a row of the table.
* A stateful test over the real store: a tmp workspace with a few generated orders (one to a
  structure the workspace does not serve), then random supplier answers (UBL OrderResponse AP /
  RE with or without a reason / CA / AB, operator CSV rows, ``Session.answer`` as the CLI does),
  issuer changes, cancellations and re-routed orders, each through the real intake
  (``intake.run``) or the operator path. After every step ``var/store.sqlite`` is read
  with ``sqlite3``: each engagement's ``status`` is the ``to_status`` of its last
  ``transitions`` row, each row's ``from_status`` is the previous row's ``to_status``, every row
  is a row of the table, and the status is what the SPEC rules predict.
"""

from __future__ import annotations

import itertools
import random
import shutil
import sqlite3
import tempfile
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, multiple, rule

from _budget import examples
from chorus_batch import Session
from chorus_batch.config import Settings
from chorus_batch.demo import generate as gen
from chorus_batch.domain import states
from chorus_batch.domain.model import LineChange
from chorus_batch.domain.states import ACTORS, FINAL, INITIAL, TRANSITIONS, Event, State
from chorus_batch.intake import Processor, run
from chorus_batch.store import Store
from chorus_batch.workspace import Workspace

A, P, R, Y, C = State.A_TRAITER, State.PRIS_EN_COMPTE, State.REFUSE, State.A_RECYCLER, State.CLOTURE

# SPEC §3, row by row ("any but CLOTURE" expanded).
SPEC_ROWS: dict[tuple[State | None, Event], State] = {
    (None, Event.RECEIVED): A,
    (None, Event.RECEIVED_UNROUTED): Y,
    (Y, Event.REROUTED): A,
    (A, Event.ACCEPT): P,
    (A, Event.MODIFY): P,
    (A, Event.REFUSE): R,
    (P, Event.MODIFY): P,
    (A, Event.CHANGE): A,
    (P, Event.CHANGE): A,
    (A, Event.CANCEL): C,
    (P, Event.CANCEL): C,
    (R, Event.CANCEL): C,
    (Y, Event.CANCEL): C,
    (P, Event.PAID): C,
}
SPEC_ACTORS = {
    Event.RECEIVED: "issuer",
    Event.RECEIVED_UNROUTED: "issuer",
    Event.REROUTED: "issuer",
    Event.ACCEPT: "supplier",
    Event.MODIFY: "supplier",
    Event.REFUSE: "supplier",
    Event.CHANGE: "issuer",
    Event.CANCEL: "issuer",
    Event.PAID: "system",
}


def _successors(source: State | None) -> set[State]:
    return {to for (frm, _event), to in TRANSITIONS.items() if frm == source}


def _reachable(start: State | None) -> set[State]:
    seen: set[State] = set()
    todo = list(_successors(start))
    while todo:
        state = todo.pop()
        if state not in seen:
            seen.add(state)
            todo.extend(_successors(state))
    return seen


# -- definition checks -------------------------------------------------------------------------------
def test_exactly_one_initial_pseudo_state() -> None:
    assert INITIAL is None
    sources = {frm for frm, _ in TRANSITIONS}
    assert {s for s in sources if not isinstance(s, State)} == {None}
    assert all(isinstance(to, State) for to in TRANSITIONS.values())  # nothing goes back to "not existing"


def test_every_state_is_reachable_from_the_initial_pseudo_state() -> None:
    assert _reachable(None) == set(State)


def test_final_states_have_no_outgoing_transitions() -> None:
    assert FINAL and set(State) >= FINAL
    for state in FINAL:
        assert _successors(state) == set(), state
        assert states.allowed_events(state) == []


def test_every_non_final_state_can_reach_a_final_state() -> None:
    for state in set(State) - FINAL:
        assert _reachable(state) & FINAL, f"{state} cannot reach a final state"


def test_every_event_has_an_actor() -> None:
    for _frm, event in TRANSITIONS:
        assert event in ACTORS, event
    assert set(ACTORS) == set(Event)
    assert ACTORS == SPEC_ACTORS


def test_table_is_the_spec_table() -> None:
    assert TRANSITIONS == SPEC_ROWS


def test_allowed_events_follow_the_table() -> None:
    for state in [None, *State]:
        assert set(states.allowed_events(state)) == {e for (frm, e) in TRANSITIONS if frm == state}


# -- property on the pure function -----------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list(Event)), max_size=40))
def test_any_event_sequence_follows_the_table(events: list[Event]) -> None:
    state: State | None = None
    for event in events:
        try:
            after = states.apply(state, event)
        except states.TransitionNotAllowed as exc:
            assert (state, event) not in TRANSITIONS
            assert exc.code == "TRANSITION_NOT_ALLOWED"
            assert (exc.state, exc.event) == (state, event)
            assert event.value in exc.message
            if state is not None:
                assert state.value in exc.message
            continue  # nothing changes
        assert isinstance(after, State)
        assert TRANSITIONS[(state, event)] == after
        state = after


# -- stateful test over the real store ---------------------------------------------------------------
ISSUER = gen.ISSUERS[1]
SERVED_SUPPLIERS = gen.SUPPLIERS[:3]
UNSERVED = gen.SUPPLIERS[3]
REASONS = st.one_of(st.none(), st.sampled_from(["Rupture de stock", "Prix hors marché", "  "]))


def expected_after_answer(state: State, code: str, reason: str | None) -> State:
    """What SPEC §3 says an answer does: AP on PRIS_EN_COMPTE is a no-op; RE needs a reason; AB
    is recorded only; anything the table has no row for changes nothing."""
    if code == "AB":
        return state
    if code == "AP" and state == P:
        return state
    if code == "RE" and not (reason or "").strip():
        return state
    event = {"AP": Event.ACCEPT, "RE": Event.REFUSE, "CA": Event.MODIFY}[code]
    return TRANSITIONS.get((state, event), state)


class EngagementLifecycle(RuleBasedStateMachine):
    engagements = Bundle("engagements")

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="chorus-sm-"))
        self.ws = Workspace(self.tmp / "ws")
        self.ws.init()
        self.settings = Settings(served=frozenset(s.siret for s in SERVED_SUPPLIERS))
        self.store = Store.for_file(self.ws.store_path)
        self.processor = Processor(self.ws, self.store, self.settings)
        self.model: dict[str, State] = {}
        self.supplier: dict[str, gen.Org] = {}
        self.lines: dict[str, list[gen.Line]] = {}
        self.step = 0
        self.rng = random.Random(0)

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- helpers
    def _next(self) -> int:
        self.step += 1
        return self.step

    def _process(self, name: str, data: bytes) -> None:
        (self.ws.inbox / name).write_bytes(data)
        run(self.processor)

    # -- orders
    @initialize(target=engagements)
    def orders(self) -> object:
        numbers = []
        for k, supplier in enumerate((*SERVED_SUPPLIERS[:2], UNSERVED)):
            number = gen.engagement_number(2000 + k)
            lines = gen.random_lines(self.rng, 2)
            self._process(f"order-{k}.xml", gen.ubl_order(number, ISSUER, supplier, lines, date(2026, 1, 5)))
            self.model[number] = A if supplier in SERVED_SUPPLIERS else Y
            self.supplier[number], self.lines[number] = supplier, lines
            numbers.append(number)
        return multiple(*numbers)

    # -- supplier answers
    @rule(number=engagements, code=st.sampled_from(["AP", "RE", "CA", "AB"]), reason=REASONS)
    def answer_file(self, number: str, code: str, reason: str | None) -> None:
        k = self._next()
        lines = [("1", "3", Decimal(k % 7 + 1), None)] if code == "CA" else []
        data = gen.ubl_order_response(
            number, ISSUER, self.supplier[number], code, response_id=f"R-{k}", reason=reason, lines=lines
        )
        self._process(f"answer-{k}.xml", data)
        self.model[number] = expected_after_answer(self.model[number], code, reason)

    @rule(
        number=engagements,
        action=st.sampled_from(["accept", "refuse", "modify"]),
        reason=st.sampled_from(["", "Motif"]),
    )
    def answer_csv(self, number: str, action: str, reason: str) -> None:
        k = self._next()
        # trailing blank lines (skipped by CSV readers) keep every file's bytes unique: the same
        # bytes twice would be a DUPLICATE file, applied once
        self._process(f"answers-{k}.csv", gen.responses_csv([(number, action, reason)]) + b"\n" * k)
        code = {"accept": "AP", "refuse": "RE", "modify": "CA"}[action]
        self.model[number] = expected_after_answer(self.model[number], code, reason or None)

    @rule(number=engagements, code=st.sampled_from(["AP", "RE", "CA"]), reason=REASONS)
    def answer_operator(self, number: str, code: str, reason: str | None) -> None:
        lines = (LineChange("1", "3", quantity=Decimal(3), unit_price=Decimal("2.50")),) if code == "CA" else ()
        Session(self.ws.root, settings=self.settings).answer(code, number, ISSUER.siret, reason, lines)
        self.model[number] = expected_after_answer(self.model[number], code, reason)

    # -- issuer documents
    @rule(number=engagements, n=st.integers(1, 3))
    def change(self, number: str, n: int) -> None:
        k = self._next()
        lines = gen.random_lines(self.rng, n)
        data = gen.ubl_order_change(number, ISSUER, self.supplier[number], lines, date(2026, 2, 2), sequence=k)
        self._process(f"change-{k}.xml", data)
        self.model[number] = TRANSITIONS.get((self.model[number], Event.CHANGE), self.model[number])

    @rule(number=engagements)
    def cancel(self, number: str) -> None:
        k = self._next()
        data = gen.ubl_order_cancellation(number, ISSUER, self.supplier[number], cancellation_id=f"ANN-{k}")
        self._process(f"cancel-{k}.xml", data)
        self.model[number] = TRANSITIONS.get((self.model[number], Event.CANCEL), self.model[number])

    @rule(number=engagements)
    def resend_to_served_structure(self, number: str) -> None:
        """The order sent again to a served structure: re-routes an A_RECYCLER engagement; for any
        other state it is an existing order (rejected or a duplicate) and nothing changes."""
        k = self._next()
        data = gen.ubl_order(number, ISSUER, SERVED_SUPPLIERS[2], self.lines[number], date(2026, 1, 5))
        self._process(f"resend-{k}.xml", data)
        if self.model[number] == Y:
            self.model[number] = A
            self.supplier[number] = SERVED_SUPPLIERS[2]

    # -- the invariants, read straight from the database
    @invariant()
    def history_is_consistent(self) -> None:
        if not self.model:
            return
        db = sqlite3.connect(f"file:{self.ws.var / 'store.sqlite'}?mode=ro", uri=True)
        try:
            status = dict(db.execute("SELECT number, status FROM engagements").fetchall())
            ids = dict(db.execute("SELECT number, id FROM engagements").fetchall())
            rows: dict[int, list[tuple[str | None, str, str]]] = defaultdict(list)
            for eid, frm, to, event in db.execute(
                "SELECT engagement_id, from_status, to_status, event FROM transitions ORDER BY id"
            ):
                rows[eid].append((frm, to, event))
        finally:
            db.close()
        assert set(status) == set(self.model)
        for number, current in status.items():
            history = rows[ids[number]]
            assert history, number
            assert history[0][0] is None, (number, history)
            assert current == history[-1][1], (number, current, history)
            for previous, row in itertools.pairwise(history):
                assert row[0] == previous[1], (number, history)
            for frm, to, event in history:
                key = (State(frm) if frm is not None else None, Event(event))
                assert TRANSITIONS.get(key) == State(to), (number, frm, event, to)
            assert current == self.model[number].value, (number, current, self.model[number], history)


EngagementLifecycle.TestCase.settings = settings(
    max_examples=examples(30),  # 6 in the fast loop
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_engagement_lifecycle_against_the_store = EngagementLifecycle.TestCase
