"""The life of a pool namespace: its states and the transitions allowed between them (see DESIGN.md)."""

from __future__ import annotations

from enum import StrEnum


class NamespaceState(StrEnum):
    AVAILABLE = "available"
    CLAIMED = "claimed"
    RELEASING = "releasing"
    RETAINED = "retained"
    MISCONFIGURED = "misconfigured"
    RETIRED = "retired"


S = NamespaceState

#: Every allowed move. A namespace removed from the configuration retires at once when nobody holds it; a held one
#: keeps serving its Deployment and retires when released. A retired name that comes back into the configuration
#: becomes available again (and misconfigured if the health check then fails).
TRANSITIONS: dict[NamespaceState, frozenset[NamespaceState]] = {
    S.AVAILABLE: frozenset({S.CLAIMED, S.MISCONFIGURED, S.RETIRED}),
    S.CLAIMED: frozenset({S.RELEASING}),
    S.RELEASING: frozenset({S.AVAILABLE, S.RETAINED, S.RETIRED}),
    S.RETAINED: frozenset({S.AVAILABLE, S.RETIRED}),
    S.MISCONFIGURED: frozenset({S.AVAILABLE, S.RETIRED}),
    S.RETIRED: frozenset({S.AVAILABLE}),
}


def can_move(src: NamespaceState, dst: NamespaceState) -> bool:
    return dst in TRANSITIONS[src]


#: States in which a namespace belongs to a Deployment (its holder is set).
HELD_STATES = frozenset({S.CLAIMED, S.RELEASING, S.RETAINED})
