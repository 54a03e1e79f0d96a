"""The engagement state machine of SPEC §3, as one data table.

``TRANSITIONS`` is the only place that says which event moves an engagement from which state
to which; ``apply`` reads it, the store's ``record_transition`` is the only writer of a status,
and ``docs/state-machine.md`` is generated from this table.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from ..errors import ChorusError


class State(StrEnum):
    A_TRAITER = "A_TRAITER"
    PRIS_EN_COMPTE = "PRIS_EN_COMPTE"
    REFUSE = "REFUSE"
    A_RECYCLER = "A_RECYCLER"
    CLOTURE = "CLOTURE"


LABELS: Final = {
    State.A_TRAITER: "A traiter",
    State.PRIS_EN_COMPTE: "Pris en compte",
    State.REFUSE: "Refusé",
    State.A_RECYCLER: "A recycler",
    State.CLOTURE: "Clôturé",
}


class Event(StrEnum):
    RECEIVED = "received"  # a new order for a served structure (issuer)
    RECEIVED_UNROUTED = "received_unrouted"  # a new order for a structure this workspace does not serve
    REROUTED = "rerouted"  # the order sent again with corrected routing (issuer)
    ACCEPT = "accept"  # supplier
    MODIFY = "modify"  # supplier: accepted with changes, a new version
    REFUSE = "refuse"  # supplier, with a reason
    CHANGE = "change"  # issuer: order change, a new version
    CANCEL = "cancel"  # issuer: cancellation / closing
    PAID = "paid"  # automatic: fully invoiced and paid (close_when_paid)


ACTORS: Final = {
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

INITIAL: Final = None  # an engagement that does not exist yet

TRANSITIONS: Final[dict[tuple[State | None, Event], State]] = {
    (INITIAL, Event.RECEIVED): State.A_TRAITER,
    (INITIAL, Event.RECEIVED_UNROUTED): State.A_RECYCLER,
    (State.A_RECYCLER, Event.REROUTED): State.A_TRAITER,
    (State.A_TRAITER, Event.ACCEPT): State.PRIS_EN_COMPTE,
    (State.A_TRAITER, Event.MODIFY): State.PRIS_EN_COMPTE,
    (State.A_TRAITER, Event.REFUSE): State.REFUSE,
    (State.PRIS_EN_COMPTE, Event.MODIFY): State.PRIS_EN_COMPTE,
    (State.A_TRAITER, Event.CHANGE): State.A_TRAITER,
    (State.PRIS_EN_COMPTE, Event.CHANGE): State.A_TRAITER,
    (State.A_TRAITER, Event.CANCEL): State.CLOTURE,
    (State.PRIS_EN_COMPTE, Event.CANCEL): State.CLOTURE,
    (State.REFUSE, Event.CANCEL): State.CLOTURE,
    (State.A_RECYCLER, Event.CANCEL): State.CLOTURE,
    (State.PRIS_EN_COMPTE, Event.PAID): State.CLOTURE,
}

FINAL: Final = frozenset({State.CLOTURE})


class TransitionNotAllowed(ChorusError):
    code = "TRANSITION_NOT_ALLOWED"

    def __init__(self, state: State | None, event: Event) -> None:
        self.state, self.event = state, event
        where = f"state {state.value}" if state else "a new engagement"
        super().__init__(f"event '{event.value}' is not allowed in {where}")


def apply(state: State | None, event: Event) -> State:
    """The state after ``event`` in ``state``.

    Raises:
        TransitionNotAllowed: the table has no such row; nothing may change.
    """
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise TransitionNotAllowed(state, event) from None


def allowed_events(state: State | None) -> list[Event]:
    """Events the table accepts in ``state``, in table order."""
    return [event for (src, event) in TRANSITIONS if src == state]
