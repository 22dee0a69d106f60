"""Every page of the web UI: each one reads its input, calls ``airpool.services`` and renders a template.

Rules the pages keep:
- every workspace-scoped read goes through a services call that checks the user's role in that workspace, so a
  page can never show another workspace's data (the services answer ``NotFound`` rather than confirm that
  something exists elsewhere);
- a failed form is rendered again with what the user typed and the error on top; a successful POST redirects
  (post/redirect/get) with a one-shot notice saying what happened.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.responses import JSONResponse, Response

from airpool.config import describe
from airpool.domain import errors
from airpool.domain.deployments import Executor
from airpool.domain.pool import RETENTION_ENDED, NamespaceState
from airpool.manifests.airflow import network
from airpool.services import (
    access,
    audit,
    auth,
    commander_jobs,
    deployments,
    people,
    pool,
    sso,
    views,
    workspaces,
)
from airpool.services.platform import Platform
from airpool.ui import dag_pages, rollout_view, settings_view, templating
from airpool.ui.framework import Ctx

#: Free namespaces up to which New Deployment shows a dropdown of all; above it, a search field with suggestions.
PICKER_SELECT_MAX = 100
#: Suggestions the search field offers at once.
PICKER_SUGGESTIONS = 50
#: Rows per page of the Pool page.
POOL_PAGE = 100
_STATE_NAMES = frozenset(s.value for s in NamespaceState)

#: Pool states counted in the empty-pool message, in the words the CLI and API use.
_UNAVAILABLE = (
    (NamespaceState.CLAIMED, "claimed"),
    (NamespaceState.RELEASING, "being released"),
    (NamespaceState.RETAINED, "retained"),
    (NamespaceState.MISCONFIGURED, "misconfigured"),
)


#: Only local paths: ``next=//evil.example`` must not turn the log-in page into an open redirect.
safe_next = sso.local_path


def can_write(actor: access.Actor, workspace: views.WorkspaceView) -> bool:
    return access.can_edit(workspace.role, system_admin=actor.is_system_admin)


class Pages:
    """The pages, bound to one running platform (database and configuration)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def current_user(self, token: str) -> access.Actor:
        return auth.authenticate(self.platform, token)

    # ---- helpers -------------------------------------------------------------------------------------------

    def _workspace(self, ctx: Ctx, workspace_id: str) -> views.WorkspaceView:
        """The workspace if the user may read it (NotFound otherwise); fills the top bar and remembers it."""
        workspace = workspaces.get(self.platform, ctx.user, workspace_id)
        ctx.session.remember_workspace(workspace.id)
        ctx.base.update(workspaces=workspaces.list_for(self.platform, ctx.user), workspace=workspace)
        return workspace

    def _top_bar(self, ctx: Ctx) -> None:
        visible = workspaces.list_for(self.platform, ctx.user)
        current = next((w for w in visible if w.id == ctx.session.workspace_id), visible[0] if visible else None)
        ctx.base.update(workspaces=visible, workspace=current)

    # ---- log in, sign up, log out ---------------------------------------------------------------------------

    def login(self, ctx: Ctx) -> Response:
        if ctx.user is not None:
            return ctx.redirect(safe_next(ctx.request.query_params.get("next")))
        config = auth.auth_config(self.platform)
        signup_open = config.initial_signup and config.local_enabled
        if ctx.request.method == "GET":
            if signup_open and not self.platform.config.auth.providers:
                return ctx.redirect("/signup")
            next_url = safe_next(ctx.request.query_params.get("next"))
            return self._render_login(ctx, next_url=next_url, username="", signup_open=signup_open)
        username = ctx.field("username")
        try:
            result = auth.login(
                self.platform,
                username=username,
                password=ctx.form.get("password", ""),
                client=ctx.request.client.host if ctx.request.client else None,
            )
        except errors.AirpoolError as exc:
            return self._render_login(
                ctx,
                status=400,
                next_url=safe_next(ctx.field("next")),
                username=username,
                signup_open=signup_open,
                error=exc.message,
                error_title="Could not log in",
            )
        ctx.session.log_in(result.token)
        return ctx.redirect(safe_next(ctx.field("next")))

    def _render_login(self, ctx: Ctx, *, next_url: str, status: int = 200, **values: Any) -> Response:
        """The log-in form (when local accounts are enabled) and a button per single sign-on provider."""
        base = sso.base_url(self.platform, str(ctx.request.base_url))
        return ctx.render(
            "login.html",
            status=status,
            title="Log in",
            next=next_url,
            local_enabled=self.platform.config.auth.local_enabled,
            providers=sso.providers(self.platform, base_url=base, next_path=next_url),
            **values,
        )

    def signup(self, ctx: Ctx) -> Response:
        config = auth.auth_config(self.platform)
        if not (config.initial_signup and config.local_enabled):
            ctx.session.notify("This installation already has users: log in, or ask an administrator for an account.")
            return ctx.redirect("/login")
        if ctx.request.method == "GET":
            return ctx.render("signup.html", title="Create the first account", username="")
        username = ctx.field("username")
        try:
            result = auth.signup(self.platform, username=username, password=ctx.form.get("password", ""))
        except errors.AirpoolError as exc:
            return ctx.render(
                "signup.html",
                status=400,
                title="Create the first account",
                username=username,
                error=exc.message,
                error_title="Could not create the account",
            )
        ctx.session.log_in(result.token)
        ctx.session.notify(f"Welcome, {result.user.username}: you are the system administrator of this installation.")
        return ctx.redirect("/")

    def logout(self, ctx: Ctx) -> Response:
        """Ends the session on the server too: a copy of the cookie saved before stops working everywhere."""
        if ctx.session.token:
            auth.logout_token(self.platform, ctx.session.token)
        ctx.session.log_out()
        ctx.session.notify("You are logged out.")
        return ctx.redirect("/login")

    # ---- workspaces and Deployments -------------------------------------------------------------------------

    def home(self, ctx: Ctx) -> Response:
        visible = workspaces.list_for(self.platform, ctx.user)
        if not visible:
            return ctx.render(
                "error.html",
                title="No workspace",
                heading="No workspace yet",
                message="You are not a member of any workspace. Ask a workspace administrator to add you.",
            )
        chosen = next((w for w in visible if w.id == ctx.session.workspace_id), visible[0])
        return ctx.redirect(f"/w/{chosen.id}/deployments")

    def switch(self, ctx: Ctx) -> Response:
        workspace = self._workspace(ctx, ctx.request.query_params.get("workspace", ""))
        return ctx.redirect(f"/w/{workspace.id}/deployments")

    def deployments(self, ctx: Ctx) -> Response:
        workspace = self._workspace(ctx, ctx.request.path_params["workspace_id"])
        rows = deployments.list_for_workspace(self.platform, ctx.user, workspace.id)
        # Deleted Deployments stay listed while their record remains: ``deleting`` until commander has removed
        # them, then (soft delete) ``deleted`` with the date their namespace returns.
        gone = deployments.list_deleted(self.platform, ctx.user, workspace.id)
        return ctx.render(
            "deployments.html",
            title=f"Deployments · {workspace.label}",
            nav="deployments",
            deployments=rows,
            deleted=gone,
            role=workspace.role or "system admin",
            can_create=can_write(ctx.user, workspace),
        )

    def deployments_status(self, ctx: Ctx) -> Response:
        """What the list page polls: ids, statuses and latest messages, deleted ones included while they remain (a
        Deployment missing from the answer has been removed for good)."""
        workspace_id = ctx.request.path_params["workspace_id"]
        rows = deployments.list_for_workspace(self.platform, ctx.user, workspace_id)
        rows += deployments.list_deleted(self.platform, ctx.user, workspace_id)
        body = {"deployments": [{"id": d.id, "status": d.status.value, "message": d.status_message} for d in rows]}
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    def deployment_live(self, ctx: Ctx) -> Response:
        """What the Deployment page polls: its status, latest message and commander's messages, so nothing on the
        page stays behind the badge (no "install queued" next to "healthy")."""
        d = deployments.get(self.platform, ctx.user, ctx.request.path_params["id"])
        jobs = commander_jobs.for_deployment(self.platform, d.id)
        events = []
        for job in reversed(jobs):
            at = job.finished_at or job.created_at
            event = _job_event(job)
            events.append(
                {
                    "at": templating.iso(at),
                    "when": templating.when(at),
                    "level": event["level"],
                    "text": event["message"],
                }
            )
        body = {
            "deployments": [{"id": d.id, "status": d.status.value, "message": d.status_message}],
            "events": events,
            "rollout": rollout_view.rollout(self.platform, d),
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    def new_deployment(self, ctx: Ctx) -> Response:
        workspace = self._workspace(ctx, ctx.request.path_params["workspace_id"])
        if not can_write(ctx.user, workspace):
            raise errors.Forbidden()
        defaults = self.platform.config.airflow
        form = {
            "label": ctx.field("label"),
            "executor": ctx.field("executor") or defaults.executor,
            "airflow_version": ctx.field("airflow_version") or defaults.version,
            "namespace": ctx.field("namespace"),
            **dag_pages.dag_fields(ctx),
        }
        error: str | None = None
        if ctx.request.method == "POST":
            try:
                chosen, credentials = dag_pages.dag_request(ctx, form)
                created = deployments.create(
                    self.platform,
                    ctx.user,
                    workspace_id=workspace.id,
                    label=form["label"],
                    executor=form["executor"],
                    airflow_version=form["airflow_version"],
                    namespace=form["namespace"] or None,
                    dag_deployment=chosen,
                    git_credentials=credentials,
                )
            except errors.PoolExhausted:
                pass  # the page shows the pool's current counts instead, with the form kept
            except errors.AirpoolError as exc:
                error = exc.message
            else:
                ctx.session.notify(f"Deployment {created.label} created in namespace {created.namespace}.")
                return ctx.redirect(f"/deployments/{created.id}")
        return self._render_new(ctx, form=form, error=error)

    def _render_new(self, ctx: Ctx, *, form: dict[str, str], error: str | None) -> Response:
        config = self.platform.config
        mode = "pool" if config.pool_enabled else ("free" if config.deployments.free_form else "none")
        names: list[str] = []
        pool_error = None
        hint = None
        free = 0
        if mode == "pool":
            # Up to PICKER_SELECT_MAX free names: a dropdown of all. More: a text field with suggestions (a
            # datalist of the first matches, refreshed by app.js as the user types), so the page stays small.
            free, names = pool.offered(self.platform, ctx.user, take=PICKER_SELECT_MAX)
            if free > PICKER_SELECT_MAX:
                names = pool.offered(self.platform, ctx.user, search=form["namespace"], take=PICKER_SUGGESTIONS)[1]
                names = names or pool.offered(self.platform, ctx.user, take=PICKER_SUGGESTIONS)[1]
            if not free:
                counts = pool.counts(self.platform)
                pool_error = {
                    "counts": [(label, counts[state]) for state, label in _UNAVAILABLE],
                    "next_release": counts.next_release_at,
                }
            elif form["namespace"] and not (
                form["namespace"] in names
                or (free > PICKER_SELECT_MAX and pool.is_offered(self.platform, form["namespace"]))
            ):
                if error:
                    hint = "Choose another namespace below; everything else you entered is kept."
                form = {**form, "namespace": ""}  # taken meanwhile: the user chooses again, the rest stays
            elif free <= PICKER_SELECT_MAX and form["namespace"] not in names:
                form = {**form, "namespace": ""}
        posted = ctx.request.method == "POST"
        return ctx.render(
            "new_deployment.html",
            status=409 if posted and (pool_error or error) else 200,
            title="New Deployment",
            nav="deployments",
            form=form,
            executors=[e.value for e in Executor],
            default_airflow_version=config.airflow.version,
            airflow_versions=config.airflow.versions,
            namespace_mode=mode,
            namespaces=names,
            namespaces_free=free,
            namespace_picker="select" if free <= PICKER_SELECT_MAX else "search",
            # The DAG deploy choice appears once NFS or git-sync is enabled; NFS where it cannot work is disabled with
            # the reason.
            **dag_pages.template_values(config),
            pool_error=pool_error,
            error=error,
            error_title="The Deployment was not created",
            error_hint=hint,
        )

    def deployment(self, ctx: Ctx) -> Response:
        d = deployments.get(self.platform, ctx.user, ctx.request.path_params["id"])
        self._workspace(ctx, d.workspace_id)
        # Jobs are read only after ``deployments.get`` confirmed the user may see this Deployment.
        jobs = commander_jobs.for_deployment(self.platform, d.id)
        return ctx.render(
            "deployment.html",
            title=d.label,
            nav="deployments",
            deployment=d,
            urls=[(u.type, u.url) for u in d.urls],
            port_forward=network.port_forward(
                namespace=d.namespace, release_name=d.release_name, airflow_version=d.airflow_version
            ),
            events=[_job_event(j) for j in reversed(jobs)],
            rollout=rollout_view.rollout(self.platform, d),
            history=[
                {"at": e.at, "actor": e.actor, "text": history_text(e)}
                for e in audit.for_deployment(self.platform, ctx.user, d.id, limit=20)
            ],
            can_delete=people.deployment_abilities(self.platform, ctx.user, d.id).can_delete,
            # failed, or backing off after a temporary failure: the work can be run again now
            can_retry=d.status.value == "failed" or any(j.state == "queued" and j.last_error for j in jobs),
        )

    def retry_deployment(self, ctx: Ctx) -> Response:
        job = commander_jobs.retry_deployment(self.platform, ctx.user, ctx.request.path_params["id"])
        ctx.session.notify(f"Queued the {job.kind} again; commander runs it now.")
        return ctx.redirect(f"/deployments/{ctx.request.path_params['id']}")

    def delete_deployment(self, ctx: Ctx) -> Response:
        d = deployments.get(self.platform, ctx.user, ctx.request.path_params["id"])
        self._workspace(ctx, d.workspace_id)
        if not people.deployment_abilities(self.platform, ctx.user, d.id).can_delete:
            raise errors.Forbidden()
        config = self.platform.config
        error = None
        if ctx.request.method == "POST":
            if ctx.field("confirm") != d.release_name:
                error = (
                    f"type the release name {d.release_name} exactly to confirm (you typed {ctx.field('confirm')!r})"
                )
            else:
                gone = deployments.delete(self.platform, ctx.user, d.id, hard=ctx.field("mode", "hard") == "hard")
                ctx.session.notify(_deleted_notice(gone, pool_enabled=config.pool_enabled))
                return ctx.redirect(f"/w/{d.workspace_id}/deployments")
        return ctx.render(
            "delete_deployment.html",
            status=400 if error else 200,
            title=f"Delete {d.label}",
            nav="deployments",
            deployment=d,
            error=error,
            error_title="Not deleted yet",
            hard_delete_allowed=config.deployments.hard_delete,
            pool_enabled=config.pool_enabled,
            retention_days=config.retention_days,
            soft_release_at=self.platform.now() + timedelta(days=config.retention_days),
        )

    # ---- administration -------------------------------------------------------------------------------------

    def namespace_options(self, ctx: Ctx) -> Response:
        """What the namespace picker asks as the user types: the first matching free names, and how many are free."""
        self._workspace(ctx, ctx.request.path_params["workspace_id"])
        query = ctx.request.query_params.get("q", "")
        free, names = pool.offered(self.platform, ctx.user, search=query, take=PICKER_SUGGESTIONS)
        return JSONResponse({"free": free, "names": names}, headers={"Cache-Control": "no-store"})

    def pool(self, ctx: Ctx) -> Response:
        """One page of the pool (POOL_PAGE rows), filtered by state and name and sorted, all on the server."""
        params = ctx.request.query_params
        states = [s for s in params.getlist("state") if s in _STATE_NAMES]
        search = params.get("q", "").strip()[:253]
        sort = params.get("sort", "name") if params.get("sort") in pool.SORTS else "name"
        descending = params.get("desc") == "1"
        page_no = int(params["page"]) if params.get("page", "").isdigit() and int(params["page"]) > 0 else 1
        result = pool.status_page(
            self.platform,
            ctx.user,
            states=states,
            search=search,
            sort=sort,
            descending=descending,
            skip=(page_no - 1) * POOL_PAGE,
            take=POOL_PAGE,
        )
        self._top_bar(ctx)
        pages = max(1, -(-result.total // POOL_PAGE))

        def link(**change: Any) -> str:
            query: list[tuple[str, str]] = [("state", s) for s in states]
            current = {"q": search, "sort": sort if sort != "name" else "", "desc": "1" if descending else ""}
            current |= {"page": str(page_no) if page_no > 1 else ""} | change
            query += [(k, v) for k, v in current.items() if v]
            return "/admin/pool" + ("?" + urlencode(query) if query else "")

        return ctx.render(
            "pool.html",
            title="Namespace pool",
            nav="pool",
            namespaces=result.namespaces,
            total=result.total,
            pool_total=sum(result.counts.by_state.values()),
            counts=[(s.value, n) for s, n in sorted(result.counts.by_state.items(), key=lambda i: i[0].value) if n],
            states=[s.value for s in NamespaceState],
            chosen_states=states,
            search=search,
            sort=sort,
            descending=descending,
            page=page_no,
            pages=pages,
            first=(page_no - 1) * POOL_PAGE + 1,
            previous_url=link(page=str(page_no - 1) if page_no > 2 else "") if page_no > 1 else None,
            next_url=link(page=str(page_no + 1)) if page_no < pages else None,
            sort_url=lambda key: link(
                sort=key if key != "name" else "", desc="1" if key == sort and not descending else "", page=""
            ),
            pool_enabled=self.platform.config.pool_enabled,
        )

    def release(self, ctx: Ctx) -> Response:
        """Early release asks first (GET: what will be lost, POST: do it): it ends a soft delete for good. With
        ``force`` (a namespace stuck releasing) it gives up its deleted Deployment's removal."""
        name = ctx.request.path_params["name"]
        force = (ctx.field("force") or ctx.request.query_params.get("force", "")) == "1"
        if ctx.request.method == "POST":
            released = pool.release_early(self.platform, ctx.user, name, force=force)
            if released.state.value == "available":
                ctx.session.notify(f"Namespace {released.name} is back in the pool and offered to new Deployments.")
            elif released.health_reason == RETENTION_ENDED:
                ctx.session.notify(
                    f"Namespace {released.name} is released: commander removes the data its deleted Deployment "
                    "kept and checks the namespace, then offers it to new Deployments."
                )
            else:
                ctx.session.notify(f"Namespace {released.name} is {released.state.value}: {released.health_reason}")
            return ctx.redirect("/admin/pool")
        found = pool.status_of(self.platform, ctx.user, name)  # one row, however large the pool
        self._top_bar(ctx)
        return ctx.render("release_namespace.html", title=f"Release {name}", nav="pool", ns=found, force=force)

    def retry_release(self, ctx: Ctx) -> Response:
        """Retry the removal of the deleted Deployment that a releasing namespace still holds."""
        name = ctx.request.path_params["name"]
        row = next((ns for ns in pool.status(self.platform, ctx.user) if ns.name == name), None)
        if row is None or row.holder_id is None:
            raise errors.NotFound(f"namespace {name!r} is not in the pool or holds no Deployment")
        job = commander_jobs.retry_deployment(self.platform, ctx.user, row.holder_id)
        ctx.session.notify(f"Queued the {job.kind} of {row.holder_release_name or row.holder_id} again in {name}.")
        return ctx.redirect("/admin/pool")

    def workspaces(self, ctx: Ctx) -> Response:
        """The workspaces you belong to, with your role, and a form to create one (you become its admin)."""
        self._top_bar(ctx)
        error = None
        label = ctx.field("label")
        description = ctx.field("description")
        if ctx.request.method == "POST":
            try:
                created = workspaces.create(self.platform, ctx.user, label=label, description=description)
            except errors.AirpoolError as exc:
                error = exc.message
            else:
                ctx.session.notify(f"Workspace {created.label} created; you are its admin.")
                return ctx.redirect(f"/w/{created.id}/deployments")
        return ctx.render(
            "workspaces.html",
            status=400 if error else 200,
            title="Workspaces",
            nav="workspaces",
            mine=workspaces.list_for(self.platform, ctx.user),
            label=label,
            description=description,
            error=error,
            error_title="The workspace was not created",
        )

    def account(self, ctx: Ctx) -> Response:
        """Your sessions and API tokens, each revocable: a revoked one stops working at once, on every replica."""
        self._top_bar(ctx)
        if ctx.request.method == "POST":
            if session_id := ctx.field("revoke_session"):
                ended = auth.revoke_session(self.platform, ctx.user, session_id)
                if ended.current:
                    ctx.session.log_out()
                    ctx.session.notify("You ended this session: log in again.")
                    return ctx.redirect("/login")
                ctx.session.notify(f"Session {ended.id} ended: whoever used it must log in again.")
            elif token_id := ctx.field("revoke_token"):
                revoked = auth.revoke_api_token(self.platform, ctx.user, token_id)
                ctx.session.notify(f"API token {revoked.label!r} revoked: requests with it are refused from now on.")
            return ctx.redirect("/account")
        return ctx.render(
            "account.html",
            title="Your account",
            nav="account",
            sessions=auth.list_sessions(self.platform, ctx.user),
            tokens=[t for t in auth.list_api_tokens(self.platform, ctx.user) if t.revoked_at is None],
        )

    def settings(self, ctx: Ctx) -> Response:
        access.require_system_admin(ctx.user)
        self._top_bar(ctx)
        config = self.platform.config
        return ctx.render(
            "settings.html",
            title="Settings",
            nav="settings",
            sections=settings_view.sections(config),
            database=describe.mask(self.platform.db.url),
            warnings=config.warnings,
            ignored_keys=config.ignored_keys,
        )


def _role(detail: dict[str, Any]) -> str:
    return str(detail.get("role") or "").removeprefix("DEPLOYMENT_").lower().replace("_", " ")


#: A Deployment's history in words (it showed the audit trail's codes: ``admin: deployment.variables``).
_HISTORY: dict[str, Callable[[dict[str, Any]], str]] = {
    "deployment.create": lambda d: "created it",
    "deployment.update": lambda d: "changed its settings",
    "deployment.variables": lambda d: (
        "changed its environment variables" + (f" ({', '.join(map(str, d['changed']))})" if d.get("changed") else "")
    ),
    "deployment.upgrade": lambda d: f"asked for an upgrade from Airflow {d.get('from')} to {d.get('to')}",
    "deployment.upgrade.cancel": lambda d: "cancelled the pending upgrade",
    "deployment.upgrade.migrated": lambda d: f"migrated the database for Airflow {d.get('to')}",
    "deployment.upgrade.failed": lambda d: f"upgrade failed: {d.get('reason')}",
    "deployment.image": lambda d: f"deployed the image {d.get('image')}",
    "deployment.delete": lambda d: "deleted it" + (" (hard delete)" if d.get("hard") else " (soft delete)"),
    "deployment.finalize": lambda d: "removed what was kept of it",
    "deployment.member.add": lambda d: f"gave {d.get('username')} the {_role(d)} role",
    "deployment.member.set": lambda d: f"changed {d.get('username')}'s role to {_role(d)}",
    "deployment.member.remove": lambda d: f"removed {d.get('username')}'s role",
}


def history_text(e: views.AuditEventView) -> str:
    """One History line of the Deployment page; an action without words shows its code."""
    words = _HISTORY.get(e.action)
    return words(e.detail) if words is not None else e.action


def _job_event(job: views.JobView) -> dict[str, object]:
    """One line of the Deployment page's commander messages, from the job that commander worked on."""
    state = job.state
    level = {"failed": "error", "queued": "info", "running": "info", "done": "ok"}.get(state, "info")
    what = f"{job.kind} ({job.reason})" if job.reason else job.kind  # "upgrade (environment variables changed)"
    if job.last_error and state != "done":
        level = "error" if state == "failed" else "warning"
        text = f"{what}: {job.last_error}" + (f" (attempt {job.attempts}, retrying)" if state == "queued" else "")
    else:
        text = f"{what} {state}" + (f" (attempt {job.attempts})" if job.attempts > 1 else "")
    return {"at": job.finished_at or job.created_at, "level": level, "message": text}


def _deleted_notice(d: views.DeploymentView, *, pool_enabled: bool) -> str:
    if not pool_enabled:
        return f"Deployment {d.label} is being deleted together with its namespace {d.namespace}."
    if d.hard_delete:
        return (
            f"Deployment {d.label} is being deleted for good; namespace {d.namespace} returns to the pool as soon "
            "as commander has removed its objects."
        )
    return (
        f"Deployment {d.label} is deleted (soft delete): its data is kept and namespace {d.namespace} returns to "
        f"the pool on {templating.when(d.releases_at)}."
    )
