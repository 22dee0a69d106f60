"""The UI's URL map, which the API's app factory mounts next to ``/v1`` and the health endpoints.

Workspace-scoped pages carry the workspace in the path (``/w/<id>/...``) so a link names exactly what it shows
and two tabs can show two workspaces; the session only remembers the last one, for ``/``.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from airpool.services import auth
from airpool.services.platform import Platform
from airpool.ui import framework
from airpool.ui import session as sessions
from airpool.ui.dag_pages import DagPages
from airpool.ui.deployment_pages import DeploymentPages
from airpool.ui.logs_pages import LogsPages
from airpool.ui.pages import Pages
from airpool.ui.people_pages import PeoplePages
from airpool.ui.sso_pages import SsoPages


def routes(platform: Platform) -> list[BaseRoute]:
    """Every UI route. The session cookie is signed with the installation's key (shared by all replicas, kept in
    the database) under the UI's own salt, so a cookie and an API token are never interchangeable."""
    pages = Pages(platform)
    people = PeoplePages(platform)
    single = SsoPages(platform)
    changes = DeploymentPages(platform, pages)
    dag = DagPages(platform)
    guard = framework.Guard(
        codec=sessions.SessionCodec(secret_key=lambda: auth.signing_key(platform)),
        current_user=pages.current_user,
        public_url=platform.config.server.public_url,
    )
    page = guard.page
    logs = LogsPages(platform, guard, top_bar=pages._workspace)

    get, both, post = ["GET"], ["GET", "POST"], ["POST"]
    return [
        Route("/", page(pages.home), methods=get),
        Route("/login", page(pages.login, login=False), methods=both),
        Route("/signup", page(pages.signup, login=False), methods=both),
        Route("/logout", page(pages.logout, login=False), methods=post),
        Route("/oauth/start/{provider}", page(single.start, login=False), methods=get),
        Route("/v1/oauth/redirect/", page(single.redirect, login=False), methods=get),
        Route("/v1/oauth/redirect", page(single.redirect, login=False), methods=get),
        Route("/token", page(single.token), methods=both),
        Route("/v1/token", page(single.token), methods=both),
        Route("/switch", page(pages.switch), methods=get),
        Route("/w/{workspace_id}/deployments", page(pages.deployments), methods=get),
        Route("/w/{workspace_id}/deployments/status", page(pages.deployments_status), methods=get),
        Route("/w/{workspace_id}/deployments/new", page(pages.new_deployment), methods=both),
        Route("/w/{workspace_id}/namespaces", page(pages.namespace_options), methods=get),
        Route("/deployments/{id}", page(pages.deployment), methods=get),
        Route("/deployments/{id}/live", page(pages.deployment_live), methods=get),
        Route("/deployments/{id}/delete", page(pages.delete_deployment), methods=both),
        Route("/deployments/{id}/retry", page(pages.retry_deployment), methods=post),
        Route("/deployments/{id}/settings", page(changes.settings), methods=both),
        Route("/deployments/{id}/upgrade", page(changes.upgrade), methods=both),
        Route("/deployments/{id}/upgrade/cancel", page(changes.cancel_upgrade), methods=post),
        Route("/deployments/{id}/variables", page(changes.variables), methods=both),
        Route("/deployments/{id}/dag-deploy", page(dag.dag_deploy), methods=both),
        Route("/admin/pool", page(pages.pool), methods=get),
        Route("/admin/pool/{name}/release", page(pages.release), methods=both),
        Route("/admin/pool/{name}/retry", page(pages.retry_release), methods=post),
        Route("/workspaces", page(pages.workspaces), methods=both),
        Route("/account", page(pages.account), methods=both),
        Route("/admin/settings", page(pages.settings), methods=get),
        Route("/w/{workspace_id}/members", page(people.members), methods=both),
        Route("/w/{workspace_id}/service-accounts", page(people.workspace_service_accounts), methods=both),
        Route("/deployments/{id}/access", page(people.deployment_access), methods=both),
        Route("/deployments/{id}/logs", page(logs.page), methods=get),
        Route("/deployments/{id}/logs/stream", logs.stream, methods=get),
        Route("/admin/teams", page(people.teams), methods=both),
        Mount("/static", StaticFiles(packages=[("airpool.ui", "static")]), name="ui-static"),
    ]
