"""The browser session: one signed cookie holding the user's API token, a CSRF secret and one-shot notices.

A signed cookie rather than a server-side table keeps the UI stateless, so any server replica can answer any
request, and keeps the UI out of the database (only ``services`` writes it). The cookie carries nothing a user
could use elsewhere except the same token the GraphQL API accepts, so it is HttpOnly, SameSite=Lax, and Secure
whenever the request reached us over https (directly or through a proxy uvicorn trusts).

CSRF uses the synchronizer-token pattern: every session, logged in or not, has a random secret; every form
carries it in a hidden field; every POST must echo it (compared in constant time). An ``Origin`` header that
names another site is refused as well, as a second line of defence.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

COOKIE_NAME = "airpool_session"
#: A browser session lasts at most this long; the API token inside has its own, possibly shorter, expiry.
MAX_AGE_SECONDS = 12 * 3600
CSRF_FIELD = "csrf_token"
_SALT = "airpool.ui.session"


@dataclass
class Session:
    """What one browser carries between requests; ``changed`` says whether the cookie must be re-sent."""

    csrf: str
    token: str | None = None
    workspace_id: str | None = None
    notices: list[str] = field(default_factory=list)
    #: A single sign-on in progress (``services.sso.Flow.dump()``): state, nonce and PKCE verifier stay in this
    #: browser's signed cookie, so whichever replica the provider sends the browser back to can finish it.
    sso_flow: dict[str, Any] | None = None
    changed: bool = False

    def log_in(self, token: str) -> None:
        """Rotate the CSRF secret at log-in so a token planted before log-in is worthless afterwards."""
        self.token = token
        self.csrf = secrets.token_urlsafe(32)
        self.changed = True

    def start_sso(self, flow: dict[str, Any]) -> None:
        self.sso_flow = flow
        self.changed = True

    def take_sso(self) -> dict[str, Any] | None:
        """The flow in progress, at most once: a provider's answer replayed later finds nothing to finish."""
        taken, self.sso_flow = self.sso_flow, None
        if taken is not None:
            self.changed = True
        return taken

    def log_out(self) -> None:
        self.token = None
        self.workspace_id = None
        self.csrf = secrets.token_urlsafe(32)
        self.changed = True

    def remember_workspace(self, workspace_id: str) -> None:
        if self.workspace_id != workspace_id:
            self.workspace_id = workspace_id
            self.changed = True

    def notify(self, message: str) -> None:
        """Show ``message`` once on the next page (post/redirect/get)."""
        self.notices.append(message)
        self.changed = True

    def take_notices(self) -> list[str]:
        taken, self.notices = self.notices, []
        if taken:
            self.changed = True
        return taken

    def csrf_matches(self, submitted: str | None) -> bool:
        return bool(submitted) and hmac.compare_digest(self.csrf.encode(), str(submitted).encode())


class SessionCodec:
    """Signs and reads the session cookie with the server's secret key."""

    def __init__(self, *, secret_key: Callable[[], str]) -> None:
        self._secret_key = secret_key
        self._cached: URLSafeTimedSerializer | None = None

    @property
    def _serializer(self) -> URLSafeTimedSerializer:
        """Built on first use: the key lives in the database, which need not be reachable at import time."""
        if self._cached is None:
            self._cached = URLSafeTimedSerializer(self._secret_key(), salt=_SALT)
        return self._cached

    def load(self, request: Request) -> Session:
        raw = request.cookies.get(COOKIE_NAME)
        data: dict[str, Any] | None = None
        if raw:
            try:
                loaded = self._serializer.loads(raw, max_age=MAX_AGE_SECONDS)
            except BadSignature:  # also covers SignatureExpired
                loaded = None
            if isinstance(loaded, dict):
                data = loaded
        if data is None or not isinstance(data.get("c"), str):
            return Session(csrf=secrets.token_urlsafe(32), changed=True)
        return Session(
            csrf=data["c"],
            token=data.get("t"),
            workspace_id=data.get("w"),
            notices=[str(n) for n in data.get("n", [])],
            sso_flow=data["o"] if isinstance(data.get("o"), dict) else None,
        )

    def save(self, session: Session, request: Request, response: Response) -> None:
        if not session.changed:
            return
        value = self._serializer.dumps(
            {
                "c": session.csrf,
                "t": session.token,
                "w": session.workspace_id,
                "n": session.notices,
                "o": session.sso_flow,
            }
        )
        response.set_cookie(
            COOKIE_NAME,
            value,
            max_age=MAX_AGE_SECONDS,
            path="/",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )


def same_origin(request: Request, *, public_url: str | None = None) -> bool:
    """False when the browser says the request came from another site; absent headers are left to the token.

    The request's own Host counts as this site, and so does the configured public URL (a reverse proxy may
    rewrite Host on its way in)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    if origin == "null":
        return False
    allowed = {f"{request.url.scheme}://{request.headers.get('host', '')}"}
    if public_url:
        parts = urlsplit(public_url)
        allowed.add(f"{parts.scheme}://{parts.netloc}")
    return origin.rstrip("/") in allowed or origin.split("://", 1)[-1] == request.headers.get("host")
