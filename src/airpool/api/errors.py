"""The one place where exceptions become GraphQL errors.

Three kinds reach a client:

- an ``AirpoolError`` (a user can fix it): its message as is, ``extensions.code`` from the class;
- a GraphQL syntax, validation or variable error (no resolver ran): graphql-core's own message, which names the
  bad field, argument or position, with ``extensions.code`` ``GRAPHQL_VALIDATION_FAILED``;
- anything else is a bug: the client sees only ``internal error`` and a request id; the traceback goes to the
  server log under the same id, never to the client.

Two messages are Houston's exact words because the astro CLI matches them: the permission error
("You do not have the appropriate permissions for that", ``domain.errors.Forbidden``) and
``AUTH_TOKEN_REFRESH_FAILED`` for a missing, malformed, expired or revoked token (``auth.TokenRejected``), which
the CLI turns into "your token has expired, log in again". The reason for the latter travels in
``extensions.reason`` for humans and airpool's own front ends. A wrong password keeps its own message.
"""

from __future__ import annotations

import contextvars
import logging
import os
from typing import Any

from graphql import GraphQLError

from airpool.api.auth import TokenRejected
from airpool.api.scalars import rfc3339
from airpool.domain import errors as domain_errors
from airpool.domain.pool import NamespaceState
from airpool.services import pool

log = logging.getLogger("airpool.api")

#: Houston's message for an unusable token; the astro CLI asks the user to log in again when it sees it.
TOKEN_REFRESH_FAILED = "AUTH_TOKEN_REFRESH_FAILED"
INTERNAL_CODE = "INTERNAL_SERVER_ERROR"
VALIDATION_CODE = "GRAPHQL_VALIDATION_FAILED"

#: The id of the request being handled; set by the HTTP layer, read when formatting and logging errors.
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("airpool_request_id", default="-")


def new_request_id() -> str:
    """16 hex digits that find a request in the log, from the OS's random source: every answer carries one, and
    drawn from the ``random`` module they would hand out its state (and with it the release names it makes next)."""
    return os.urandom(8).hex()


def airpool_error_payload(error: domain_errors.AirpoolError) -> dict[str, Any]:
    """Message and extensions for an error a user can fix (also used for errors outside GraphQL execution)."""
    if isinstance(error, TokenRejected):
        return {"message": TOKEN_REFRESH_FAILED, "extensions": {"code": error.code, "reason": error.message}}
    extensions: dict[str, Any] = {"code": error.code}
    if isinstance(error, pool.PoolEmpty):
        # The figures of the message, for front ends that show them apart (the CLI prints the message).
        extensions["pool"] = {
            **{state.value: error.counts[state] for state in NamespaceState},
            "nextReleaseAt": rfc3339(error.next_release_at) if error.next_release_at else None,
        }
    return {"message": error.message, "extensions": extensions}


def internal_error_payload(rid: str) -> dict[str, Any]:
    return {
        "message": f"internal error (request id {rid}); the server log has the details",
        "extensions": {"code": INTERNAL_CODE, "requestId": rid},
    }


def format_error(error: GraphQLError, debug: bool = False) -> dict[str, Any]:
    """Ariadne's error formatter: maps every error of a GraphQL result (see module docstring)."""
    original = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    formatted: dict[str, Any] = {}
    if isinstance(original, domain_errors.AirpoolError):
        formatted = airpool_error_payload(original)
        log.info("request %s: %s: %s", request_id.get(), type(original).__name__, original.message)
    elif original is not None and error.path is not None:
        rid = request_id.get()
        log.error("request %s: internal error at %s", rid, ".".join(map(str, error.path)), exc_info=original)
        formatted = internal_error_payload(rid)
    else:
        formatted = {"message": error.message, "extensions": {"code": VALIDATION_CODE}}
    if error.locations:
        formatted["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path is not None:
        formatted["path"] = list(error.path)
    return formatted


def is_pool_exhausted(error: GraphQLError) -> bool:
    return isinstance(error.original_error, domain_errors.PoolExhausted)
