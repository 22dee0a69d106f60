"""The two kinds of commander failure (the kopf habit): permanent ones end the job with a message the user can
act on; temporary ones are retried with backoff by the worker.

Which kind a failure is comes from evidence, not from its status code alone (``classify``): an API server that
has just restarted answers 403 until its authorization caches are loaded, so a 403 (or a preflight finding
permissions missing) within ``WARMUP_SECONDS`` of a connection error is temporary, and so is a 403 that a fresh
SelfSubjectAccessReview contradicts. Only a refusal that holds up is permanent.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence

import httpx2
from lightkube import ApiError

from airpool.domain.errors import AirpoolError


class CommanderError(AirpoolError):
    """A permanent failure: retrying without a change by an admin or user cannot help."""

    code = "COMMANDER_FAILED"


class PermissionsMissing(CommanderError):
    """Preflight found permissions commander lacks; nothing was changed."""

    code = "PERMISSIONS_MISSING"

    def __init__(self, namespace: str, missing: Sequence[str]) -> None:
        self.missing = tuple(missing)
        listed = "; ".join(self.missing)
        super().__init__(
            f"commander lacks {len(self.missing)} permission(s) needed in namespace "
            f"{namespace!r}, so nothing was changed: {listed}. Extend commander's Role in that namespace "
            "(see `airpool config render`) and retry."
        )


class ClusterRefused(CommanderError):
    """The API server refused a request (403, 422, ...); ``message`` is the API server's own text."""

    code = "CLUSTER_REFUSED"

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


class NamespaceNotOurs(CommanderError):
    """The namespace exists and airpool did not create it for this Deployment: it is never adopted."""

    code = "NAMESPACE_NOT_OURS"

    def __init__(self, namespace: str, deployment_id: str) -> None:
        super().__init__(
            f"namespace {namespace!r} already exists and was not created by airpool for this Deployment, so nothing "
            "was changed: airpool never adopts, relabels or deletes a namespace it did not create. Delete this "
            "Deployment (the namespace and everything in it stay untouched) and create it again with a namespace "
            "name that does not exist yet, or ask an admin to add the namespace to the pool."
        )
        self.namespace = namespace
        self.deployment_id = deployment_id


class Fenced(Exception):
    """The worker's lease on its job has passed (it was paused, or lost its database): another worker may own the
    job now, so this one must not write to the cluster or the database any more. Raised by the fence the worker
    hands to ``install``/``uninstall``, which call it before each write."""


class TemporaryFailure(Exception):
    """The API server or the network failed in a way a retry may fix (5xx, 409, 429, timeouts)."""


_TEMPORARY_STATUSES = frozenset({409, 429, 500, 502, 503, 504})


def from_api_error(exc: ApiError) -> CommanderError | TemporaryFailure:
    status = int(exc.status.code or 0)
    message = exc.status.message or str(exc)
    if status in _TEMPORARY_STATUSES:
        if status >= 500:
            note_unreachable()
        return TemporaryFailure(f"API server answered {status}: {message}")
    return ClusterRefused(status, message)


def translate(exc: BaseException) -> BaseException:
    """Map lightkube/httpx failures to commander's two kinds; other exceptions pass through unchanged."""
    if isinstance(exc, ApiError):
        return from_api_error(exc)
    if isinstance(exc, httpx2.TransportError):
        note_unreachable()
        return TemporaryFailure(f"cannot reach the API server: {exc}")
    return exc


#: How long after the API server was last unreachable its refusals are not taken at their word.
WARMUP_SECONDS = 120.0

_lock = threading.Lock()
_unreachable_at: float | None = None


def note_unreachable() -> None:
    """Record that the API server could not be reached (connection refused or reset, a timeout, a 5xx)."""
    global _unreachable_at
    with _lock:
        _unreachable_at = time.monotonic()


def forget_unreachable() -> None:
    """Drop the evidence (tests that need a clean slate; a worker never calls it)."""
    global _unreachable_at
    with _lock:
        _unreachable_at = None


def recently_unreachable(window: float = WARMUP_SECONDS) -> float | None:
    """Seconds since the API server was last unreachable, when that is within ``window``; else None."""
    with _lock:
        since = _unreachable_at
    if since is None:
        return None
    ago = time.monotonic() - since
    return ago if ago <= window else None


#: ``... cannot create resource "pods/exec" in API group "" in the namespace "pool-a"`` (the API server's 403).
_FORBIDDEN = re.compile(
    r'cannot (?P<verb>[a-z]+) resource "(?P<resource>[^"]+)" in API group "(?P<group>[^"]*)"'
    r'(?: in the namespace "(?P<namespace>[^"]+)")?'
)

#: Asks the API server (a SelfSubjectAccessReview) whether commander may ``verb resource/sub (group)`` in a
#: namespace (None: cluster-wide): ``(verb, resource, subresource, group, namespace) -> allowed``.
AccessReview = Callable[[str, str, str, str, str | None], bool]


def classify(exc: BaseException, *, review: AccessReview | None = None) -> BaseException:
    """``exc`` as commander's kind of failure, judged on the evidence: returns a ``TemporaryFailure`` for what a
    retry may fix, a ``CommanderError`` (permanent) otherwise; any other exception passes through."""
    exc = translate(exc)
    if isinstance(exc, TemporaryFailure):
        return exc
    refused_403 = isinstance(exc, ClusterRefused) and exc.status == 403
    if not (refused_403 or isinstance(exc, PermissionsMissing)):
        return exc
    assert isinstance(exc, CommanderError)
    ago = recently_unreachable()
    if ago is not None:
        return TemporaryFailure(
            f"{exc.message} (taken as temporary: the API server was unreachable {ago:.0f} s ago, and a restarted "
            "API server refuses requests until its authorization caches are loaded)"
        )
    if refused_403 and review is not None:
        asked = _FORBIDDEN.search(exc.message)
        if asked:
            resource, _, sub = asked["resource"].partition("/")
            try:
                allowed = review(asked["verb"], resource, sub, asked["group"], asked["namespace"])
            except Exception:  # the review itself failed: keep the refusal as it was
                allowed = False
            if allowed:
                return TemporaryFailure(
                    f"{exc.message} (taken as temporary: a fresh access review says commander may "
                    f"{asked['verb']} {asked['resource']}, so the refusal came from an authorizer still catching up)"
                )
    return exc
