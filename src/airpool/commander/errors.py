"""The two kinds of commander failure (the kopf habit): permanent ones end the job with a message the user can
act on; temporary ones are retried with backoff by the worker.
"""

from __future__ import annotations

from collections.abc import Sequence

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


class TemporaryFailure(Exception):
    """The API server or the network failed in a way a retry may fix (5xx, 409, 429, timeouts)."""


_TEMPORARY_STATUSES = frozenset({409, 429, 500, 502, 503, 504})


def from_api_error(exc: ApiError) -> CommanderError | TemporaryFailure:
    status = int(exc.status.code or 0)
    message = exc.status.message or str(exc)
    if status in _TEMPORARY_STATUSES:
        return TemporaryFailure(f"API server answered {status}: {message}")
    return ClusterRefused(status, message)


def translate(exc: BaseException) -> BaseException:
    """Map lightkube/httpx failures to commander's two kinds; other exceptions pass through unchanged."""
    if isinstance(exc, ApiError):
        return from_api_error(exc)
    if isinstance(exc, httpx2.TransportError):
        return TemporaryFailure(f"cannot reach the API server: {exc}")
    return exc
