"""The plumbing every page shares: session cookie, CSRF check, log-in requirement, rendering, errors.

Pages are plain synchronous functions ``(ctx: Ctx) -> Response``: the services they call are synchronous
(SQLAlchemy), so ``Guard.page`` runs them in Starlette's thread pool after the async parts (reading the form) are done.
An ``AirpoolError`` escaping a page becomes a friendly error page with the right status, never a traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

import airpool
from airpool.api import limits
from airpool.domain import errors
from airpool.ui import session as sessions
from airpool.ui import templating

_STATUS = {
    errors.NotFound: 404,
    errors.Forbidden: 403,
    errors.Unauthenticated: 401,
    errors.Conflict: 409,
}


@dataclass
class Ctx:
    """One request as a page sees it."""

    request: Request
    session: sessions.Session
    form: Mapping[str, str]
    #: The ``services.access.Actor`` behind the session's token (None when logged out). Typed loosely because
    #: pages that require log-in may rely on it being set without narrowing it each time.
    user: Any = None
    #: Filled in by pages that know the current workspace, for the top bar.
    base: dict[str, Any] = field(default_factory=dict)

    def field(self, name: str, default: str = "") -> str:
        return self.form.get(name, default).strip()

    def render(self, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
        context: dict[str, Any] = {
            "csrf": self.session.csrf,
            "user": self.user,
            "workspaces": [],
            "workspace": None,
            "nav": "",
            "version": airpool.__version__,
            "error": None,
            "notices": self.session.take_notices(),
        }
        context.update(self.base)
        context.update(values)
        return HTMLResponse(templating.render(template, context), status_code=status, headers=PAGE_HEADERS)

    def redirect(self, url: str) -> RedirectResponse:
        """303 so a POST is followed by a GET (no resubmission on reload)."""
        return RedirectResponse(url, status_code=303)


#: Pages show one user's data: never let a shared cache keep them. The pages load only their own CSS and JS
#: (no inline script or style), so the policy can forbid everything else, including being framed (clickjacking).
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

PageFn = Callable[[Ctx], Response]
Endpoint = Callable[[Request], Awaitable[Response]]


def error_page(ctx: Ctx, *, status: int, heading: str, message: str, **extra: Any) -> HTMLResponse:
    """``extra``: ``back_url`` and ``back_label`` for the page's one button (default: back to airpool's start)."""
    return ctx.render("error.html", status=status, title=heading, heading=heading, message=message, **extra)


@dataclass(frozen=True)
class Guard:
    """What every endpoint checks before its page runs."""

    codec: sessions.SessionCodec
    #: Turns the session's API token into a user, or raises ``Unauthenticated`` (expired, revoked).
    current_user: Callable[[str], Any]
    #: The configured public URL, accepted as this site's origin beside the request's Host.
    public_url: str | None = None

    def page(self, fn: PageFn, *, login: bool = True) -> Endpoint:
        """A Starlette endpoint for a page function; with ``login`` a visitor is sent to the log-in page first."""

        @functools.wraps(fn)
        async def endpoint(request: Request) -> Response:
            sess = self.codec.load(request)
            form: dict[str, str] = {}
            refusal: str | None = None
            if request.method == "POST":
                form, refusal = await _read_form(request)
            ctx = Ctx(request=request, session=sess, form=form)
            if refusal is not None:
                refused = error_page(
                    ctx, status=413 if "larger" in refusal else 400, heading="Bad request", message=refusal
                )
                refused.headers["connection"] = "close"
                return refused
            response = await run_in_threadpool(self._run, fn, ctx, login=login)
            self.codec.save(sess, request, response)
            return response

        return endpoint

    def _run(self, fn: PageFn, ctx: Ctx, *, login: bool) -> Response:
        request = ctx.request
        if request.method == "POST" and not (
            sessions.same_origin(request, public_url=self.public_url)
            and ctx.session.csrf_matches(ctx.form.get(sessions.CSRF_FIELD))
        ):
            return error_page(
                ctx,
                status=403,
                heading="Request refused",
                message="This form did not carry a valid security token (it may have come from another site, or "
                "the page was open for too long). Go back, reload the page and try again.",
            )
        if ctx.session.token:
            try:
                ctx.user = self.current_user(ctx.session.token)
            except errors.Unauthenticated:
                ctx.session.log_out()
                ctx.session.notify("Your session has expired; log in again.")
        if login and ctx.user is None:
            target = request.url.path if request.method == "GET" else "/"
            return ctx.redirect(f"/login?next={quote(target)}")
        return _answer(fn, ctx)


#: The UI's forms are a few short fields; anything bigger is not one of them.
MAX_FORM_BYTES = 64 * 1024


async def _read_form(request: Request) -> tuple[dict[str, str], str | None]:
    """The posted form (URL-encoded, as every UI form is), read as it streams in, with the reason to refuse it."""
    try:
        body = await limits.read_body(request, MAX_FORM_BYTES)
    except limits.BodyTooLarge:
        return {}, f"The form is larger than {MAX_FORM_BYTES} bytes; no page of airpool sends that much."
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return {}, None  # not one of our forms: it carries no CSRF token either, so it is refused as forged
    form = dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
    for key, value in form.items():
        if "\x00" in key or "\x00" in value:
            return {}, f"The form field {key.replace(chr(0), '')!r} contains the character U+0000 (NUL); remove it."
    return form, None


def _answer(fn: PageFn, ctx: Ctx) -> Response:
    try:
        return fn(ctx)
    except errors.AirpoolError as exc:
        status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 400)
        heading = {404: "Not found", 403: "Not allowed", 401: "Log in again", 409: "Conflict"}.get(
            status, "Bad request"
        )
        return error_page(ctx, status=status, heading=heading, message=exc.message)
