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
#: keeps serving its Deployment and retires when released. A name that enters (or comes back into) the
#: configuration starts as misconfigured with ``PENDING_CHECK`` and is offered only once commander's health check
#: has verified its access there. ``releasing -> misconfigured``: the namespace was not found empty right after its
#: Deployment's removal, or an admin force-released it; the health check offers it once it is.
#: ``retained -> misconfigured`` (``RETENTION_ENDED``): the retention ended (or an admin released it early);
#: commander purges the data the soft delete kept and offers the namespace once its check finds nothing of any
#: Deployment left, so no namespace is ever offered unchecked.
TRANSITIONS: dict[NamespaceState, frozenset[NamespaceState]] = {
    S.AVAILABLE: frozenset({S.CLAIMED, S.MISCONFIGURED, S.RETIRED}),
    S.CLAIMED: frozenset({S.RELEASING}),
    S.RELEASING: frozenset({S.AVAILABLE, S.RETAINED, S.RETIRED, S.MISCONFIGURED}),
    S.RETAINED: frozenset({S.MISCONFIGURED, S.RETIRED}),
    S.MISCONFIGURED: frozenset({S.AVAILABLE, S.RETIRED}),
    S.RETIRED: frozenset({S.MISCONFIGURED}),
}


def can_move(src: NamespaceState, dst: NamespaceState) -> bool:
    return dst in TRANSITIONS[src]


#: Health reason of a namespace commander has not checked yet: never offered before its access is verified.
PENDING_CHECK = "not checked yet: commander verifies its access here before the namespace is offered"

#: Health reason of a namespace whose retention ended: commander removes the kept data first.
RETENTION_ENDED = (
    "retention ended: commander removes the data its deleted Deployment kept and verifies it holds nothing of any "
    "Deployment before offering it"
)

#: Health reason of a namespace an admin force-released (its Deployment's removal given up): offered only once
#: commander's health check found it holds nothing of any Deployment.
FORCE_RELEASED = (
    "force-released by an admin: commander verifies it holds no object of any Deployment before offering it"
)

#: States in which a namespace belongs to a Deployment (its holder is set).
HELD_STATES = frozenset({S.CLAIMED, S.RELEASING, S.RETAINED})
