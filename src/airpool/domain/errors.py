"""Errors a user can cause and fix; each carries a message that says what was wrong and what is allowed.

The API maps these to GraphQL errors, the CLI to exit code 1, the UI to a message on the page. Anything that is
not an ``AirpoolError`` is a bug and is reported as an internal error without details.
"""

from __future__ import annotations


class AirpoolError(Exception):
    """Base for every error caused by input or state a user can change."""

    code = "BAD_REQUEST"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(AirpoolError):
    code = "BAD_USER_INPUT"


class NotFound(AirpoolError):
    code = "NOT_FOUND"


class Conflict(AirpoolError):
    code = "CONFLICT"


class PoolExhausted(Conflict):
    """No namespace of the pool can be claimed right now."""

    code = "NO_NAMESPACE_AVAILABLE"


class Unauthenticated(AirpoolError):
    code = "UNAUTHENTICATED"


class Forbidden(AirpoolError):
    """Houston's exact wording, which the astro CLI recognises."""

    code = "FORBIDDEN"

    def __init__(self, message: str = "You do not have the appropriate permissions for that") -> None:
        super().__init__(message)


class ConfigError(AirpoolError):
    code = "CONFIG_ERROR"
