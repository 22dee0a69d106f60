"""Single sign-on pages: leaving for the identity provider, coming back, and the astro CLI's token page.

- ``/oauth/start/<provider>`` starts the authorization-code flow (``services.sso.begin``), keeps the flow in the
  session cookie and sends the browser to the provider.
- ``/v1/oauth/redirect/`` is where the provider sends it back (Houston's redirect URI, so Astronomer's guides for
  registering airpool at an identity provider apply unchanged): the flow is taken out of the cookie (once), checked
  and redeemed, and the browser is logged in. Any failure is an error page that says what went wrong.
- ``/token`` (and ``/v1/token``, which the astro CLI prints for a ``localhost`` installation): ``astro login``
  without a username prints this URL and asks the user to paste a token. Logged in (by any means), the page makes
  a new session token just for the CLI, shown once, which ``airpool``'s Account page can end like any other.
"""

from __future__ import annotations

from starlette.responses import Response

from airpool.services import auth, sso
from airpool.services.platform import Platform
from airpool.ui.framework import Ctx, error_page


class SsoPages:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def _base(self, ctx: Ctx) -> str:
        return sso.base_url(self.platform, str(ctx.request.base_url))

    def start(self, ctx: Ctx) -> Response:
        name = ctx.request.path_params["provider"]
        next_path = sso.local_path(ctx.request.query_params.get("next"))
        try:
            url, flow = sso.begin(
                self.platform, name, redirect_uri=sso.redirect_uri(self._base(ctx)), next_path=next_path
            )
        except sso.SsoFailed as exc:
            return self._failed(ctx, exc)
        ctx.session.start_sso(flow.dump())
        return ctx.redirect(url)

    def redirect(self, ctx: Ctx) -> Response:
        flow = sso.Flow.load(ctx.session.take_sso())
        try:
            identity = sso.finish(self.platform, flow, dict(ctx.request.query_params))
            done = sso.login_with_claims(self.platform, identity)
        except sso.SsoFailed as exc:
            return self._failed(ctx, exc)
        ctx.session.log_in(done.login.token)
        provider = self.platform.config.auth.provider(identity.provider)
        via = provider.display_name if provider else identity.provider
        teams = f" Your teams: {', '.join(done.teams)}." if done.teams else ""
        welcome = "Welcome" if done.created else "Logged in"
        ctx.session.notify(f"{welcome}, {done.login.user.username} (through {via}).{teams}")
        return ctx.redirect(flow.next if flow else "/")

    def token(self, ctx: Ctx) -> Response:
        """GET explains, POST makes the token (a page load alone never creates a session)."""
        if ctx.request.method == "POST":
            made = auth.start_session(self.platform, auth.me(self.platform, ctx.user))
            return ctx.render("token.html", title="Token for the astro CLI", token=made.token, expires=made.expires_at)
        return ctx.render("token.html", title="Token for the astro CLI", token=None, expires=None)

    def _failed(self, ctx: Ctx, exc: sso.SsoFailed) -> Response:
        return error_page(
            ctx,
            status=exc.status,
            heading="Single sign-on failed",
            message=exc.message,
            back_url="/login",
            back_label="Back to the log-in page",
        )
