"""What a resolver gets as ``info.context``: the platform, the request id and the caller (looked up lazily).

The caller is resolved on first use, not per request: ``appConfig`` and ``authConfig`` must answer even with an
expired token in the header (the astro CLI negotiates the version before it knows the token is stale).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airpool.api import auth
from airpool.domain.errors import Unauthenticated
from airpool.services import auth as auth_service
from airpool.services.platform import Platform


@dataclass(frozen=True)
class AppState:
    """Shared by every request of one server process."""

    platform: Platform


@dataclass
class RequestContext:
    state: AppState
    headers: Mapping[str, str]
    request_id: str
    #: The caller's address (as uvicorn saw it, proxy headers applied): failed log-ins are throttled per client.
    client: str | None = None
    #: The server's URL as this request reached it (``http://host:port/``): links handed out (single sign-on's
    #: provider URLs) use the configured public URL first, this otherwise.
    base_url: str = ""
    #: Per-request cache (``resolvers.common.memo``).
    memo: dict[tuple[Any, ...], Any] = field(default_factory=dict, repr=False)
    _caller: auth_service.Actor | None = field(default=None, init=False, repr=False)

    @property
    def platform(self) -> Platform:
        return self.state.platform

    def caller(self) -> auth_service.Actor:
        """The authenticated caller; raises ``Unauthenticated`` (shown as AUTH_TOKEN_REFRESH_FAILED) otherwise."""
        if self._caller is None:
            token = auth.token_from_headers(self.headers)
            if token is None:
                raise auth.TokenRejected(auth.NO_TOKEN)
            try:
                self._caller = auth_service.authenticate(self.platform, token)
            except Unauthenticated as exc:
                raise auth.TokenRejected(exc.message) from exc
        return self._caller
