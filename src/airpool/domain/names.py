"""Kubernetes name rules, checked before anything reaches the database or the cluster."""

from __future__ import annotations

import difflib
import heapq
import re
from collections.abc import Sequence

DNS1123_LABEL_MAX = 63
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

#: Namespaces Kubernetes itself owns; a pool may never hand them to a Deployment.
SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")


def dns1123_label_problem(value: str) -> str | None:
    """Why ``value`` is not a DNS-1123 label, or None when it is one."""
    if not value:
        return "must not be empty"
    if len(value) > DNS1123_LABEL_MAX:
        return f"must be at most {DNS1123_LABEL_MAX} characters (got {len(value)})"
    if not _DNS1123_LABEL.match(value):
        return (
            "must consist of lower case alphanumeric characters or '-', "
            "and must start and end with an alphanumeric character"
        )
    return None


def is_dns1123_label(value: str) -> bool:
    return dns1123_label_problem(value) is None


#: Free names compared in full (difflib) for a typo suggestion: those sharing the most three-letter pieces with the
#: typed name. difflib over all 10,000 names of a large pool took about 0.45 s, inside the claim's transaction (on
#: SQLite every other write waited meanwhile); this takes a few milliseconds.
TYPO_CANDIDATES = 200


def _trigrams(text: str) -> set[str]:
    return {text[i : i + 3] for i in range(max(len(text) - 2, 1))}


def closest_name(wanted: str, available: Sequence[str]) -> str | None:
    """The free name ``wanted`` is most likely a typo of (difflib's closest, ratio 0.6 or more), or None."""
    candidates: Sequence[str] = available
    if len(available) > TYPO_CANDIDATES:
        pieces = _trigrams(wanted)
        candidates = heapq.nlargest(TYPO_CANDIDATES, available, key=lambda name: len(pieces & _trigrams(name)))
    closest = difflib.get_close_matches(wanted, candidates, n=1, cutoff=0.6)
    return closest[0] if closest else None


def choices_hint(wanted: str, available: Sequence[str], *, typo: bool = True, shown: int = 10) -> str:
    """What to say after "namespace X cannot be used": for a name that may be a typo the closest free name, then
    the free names themselves, at most ``shown`` of them so a pool of thousands stays one readable line."""
    if not available:
        return "no namespace of the pool is available right now"
    closest = [found] if typo and (found := closest_name(wanted, available)) else []
    listed = ", ".join(available[:shown])
    more = len(available) - shown
    text = f"available: {listed}" + (f" and {more} more" if more > 0 else "")
    return (f"did you mean {closest[0]!r}? " if closest else "") + text
