"""A Deployment's logs page: choose a component, search, a time window; live tail with JavaScript.

The page is a plain GET form, so it works without JavaScript: the newest lines (up to ``limit``) after the chosen
window, matching the search. With JavaScript, *Live tail* opens ``/deployments/<id>/logs/stream`` (Server-Sent
Events, with the same session cookie) from the last line shown and appends new lines as commander reads them;
*Pause* closes it. Lines come from ``services.logs`` (commander reads them; docs/commander.md, *Logs*), so the same
rule applies as for the API: a Deployment viewer or more.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from airpool.api import streams
from airpool.domain import logs as log_rules
from airpool.domain.errors import AirpoolError, InvalidInput
from airpool.services import deployments, logs
from airpool.services.platform import Platform
from airpool.ui import framework
from airpool.ui.framework import Ctx

#: The windows offered in the page's chooser ('' = the newest lines, whenever written).
WINDOWS = (
    ("", "newest lines"),
    ("5m", "last 5 minutes"),
    ("15m", "last 15 minutes"),
    ("1h", "last hour"),
    ("6h", "last 6 hours"),
    ("24h", "last 24 hours"),
    ("7d", "last 7 days"),
)
SHOWN = 300


def _line(line: log_rules.LogLine) -> dict[str, str]:
    return {
        "at": line.timestamp.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "time": line.timestamp.astimezone(UTC).strftime("%H:%M:%S"),
        "pod": line.pod,
        "text": line.message,
    }


class LogsPages:
    def __init__(self, platform: Platform, guard: framework.Guard, *, top_bar: Callable[[Ctx, str], object]) -> None:
        self.platform = platform
        self.guard = guard
        self._workspace = top_bar

    def page(self, ctx: Ctx) -> Response:
        d = deployments.get(self.platform, ctx.user, ctx.request.path_params["id"])
        self._workspace(ctx, d.workspace_id)  # the top bar, as on the Deployment's own page
        have = logs.components_of(self.platform, ctx.user, d.id)
        params = ctx.request.query_params
        component = params.get("component") or have[0]
        search = params.get("search", "")
        window = params.get("since", "")
        error, lines, since, why = None, [], None, ""
        status = 200
        try:
            if window:
                since = datetime.now(UTC) - log_rules.parse_since(window)
            checked = logs.check(
                self.platform, ctx.user, d.id, component=component, since=since, search=search, limit=SHOWN
            )
            component = checked.component  # Houston's ``webserver`` is the API server's label on Airflow 3
            lines = [_line(line) for line in logs.read(self.platform, checked)]
            if not lines:
                why = self._why_none(checked)
        except InvalidInput as exc:
            error, status = exc.message, 400
        except AirpoolError as exc:
            error, status = exc.message, 503
        return ctx.render(
            "deployment_logs.html",
            status=status,
            title=f"Logs of {d.label}",
            nav="deployments",
            deployment=d,
            components=[(c, log_rules.houston_name(c)) for c in have],
            component=component,
            component_name=log_rules.houston_name(component),
            search=search,
            window=window,
            windows=WINDOWS if any(w == window for w, _ in WINDOWS) else (*WINDOWS, (window, window)),
            lines=lines,
            why=why,
            shown=SHOWN,
            error=error,
        )

    def _why_none(self, checked: logs.LogQuery) -> str:
        """Why there are no lines (no pod yet, not started, fake nodes, nothing logged); "" if commander cannot say."""
        try:
            return logs.why_none(self.platform, checked)[1]
        except AirpoolError:
            return ""

    async def stream(self, request: Request) -> Response:
        """Server-Sent Events: ``line`` events (JSON), ``failure`` (a message, then the stream ends), comments as
        keep-alives. Not a page: a logged-out or refused browser gets one ``failure`` event saying why."""
        session = self.guard.codec.load(request)
        params = request.query_params
        deployment_id = request.path_params["id"]

        def check() -> tuple[logs.LogQuery, object]:
            if not session.token:
                raise AirpoolError("you are logged out; reload the page to log in")
            actor = self.guard.current_user(session.token)
            # A reconnecting EventSource names the last line it got (each line's id is its time): resume after it.
            after = request.headers.get("last-event-id") or params.get("after")
            since = datetime.fromisoformat(after) if after else None
            checked = logs.check(
                self.platform,
                actor,
                deployment_id,
                component=params.get("component"),
                since=since,
                search=params.get("search") or None,
            )
            return checked, actor

        async def events() -> AsyncIterator[str]:
            try:
                checked, _ = await anyio.to_thread.run_sync(check)
            except (AirpoolError, ValueError) as exc:
                yield _event("failure", getattr(exc, "message", None) or f"bad request: {exc}")
                return
            yield "retry: 2000\n: live\n\n"

            def recheck() -> object:
                return check()

            try:
                async for line in streams.follow(self.platform, checked, recheck=recheck):
                    if line is None:
                        yield ": ka\n\n"
                    else:
                        shown = _line(line)
                        yield f"id: {shown['at']}\n" + _event("line", json.dumps(shown))
            except AirpoolError as exc:
                yield _event("failure", exc.message)

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no", **_SECURITY},
        )


_SECURITY = {k: v for k, v in framework.PAGE_HEADERS.items() if k != "Cache-Control"}


def _event(kind: str, data: str) -> str:
    body = "\n".join(f"data: {part}" for part in data.split("\n"))
    return f"event: {kind}\n{body}\n\n"
