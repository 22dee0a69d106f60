"""DAG deploys in the UI: the DAG deploy group of *New Deployment* and a Deployment's *DAG deploy* page.

Both read the same form fields (``dag_fields``) and hand them to ``services.deployments`` (``create`` / ``update``),
which checks every value; the pages only decide what to show. The SSH key and known hosts are write-only: a form
shown again after an error never echoes them (the user pastes them again), and the DAG deploy page only says
whether they are stored.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from airpool.config.model import PlatformConfig
from airpool.domain import dags, errors
from airpool.services import access, deployments, views, workspaces
from airpool.services.platform import Platform
from airpool.ui.framework import Ctx

#: The form's plain fields (shown again as typed); the key and known hosts are read but never shown again.
PLAIN_FIELDS = ("dag_deployment", "nfs_location", "repository_url", "branch_name", "rev", "dag_directory_location")


def dag_fields(ctx: Ctx, default: dict[str, str] | None = None) -> dict[str, str]:
    """The DAG deploy fields of a form (on GET: ``default``, e.g. the Deployment's current settings)."""
    if ctx.request.method != "POST":
        empty = dict.fromkeys((*PLAIN_FIELDS, "sync_interval"), "")
        return {**empty, "dag_deployment": "image", **(default or {})}
    out = {name: ctx.field(name) for name in PLAIN_FIELDS}
    out["dag_deployment"] = out["dag_deployment"] or "image"
    out["sync_interval"] = ctx.field("sync_interval")
    return out


def dag_request(ctx: Ctx, form: dict[str, str]) -> tuple[dict[str, Any], dags.GitCredentials | None]:
    """The services' ``dag_deployment`` and ``git_credentials`` from a posted form."""
    kind = form["dag_deployment"]
    chosen: dict[str, Any] = {"type": kind}
    if kind == "nfs":
        chosen["nfs_location"] = form["nfs_location"]
        return chosen, None
    if kind != dags.DagDeployType.GIT_SYNC.value:
        return chosen, None
    for name in deployments.GIT_SYNC_KEYS:
        if form.get(name):
            chosen[name] = form[name]
    if ctx.field("remove_ssh_key") == "yes":
        return chosen, dags.GitCredentials(ssh_key="", known_hosts="")
    key = ctx.field("ssh_key") or None
    known = ctx.field("known_hosts") or None
    return chosen, dags.GitCredentials(ssh_key=key, known_hosts=known)


def template_values(config: PlatformConfig) -> dict[str, Any]:
    """What the DAG deploy group needs to know about the installation."""
    return {
        "nfs_enabled": config.deployments.nfs_dag_deploys,
        "nfs_blocked": deployments.nfs_unavailable(config),
        "git_sync_enabled": config.deployments.git_sync_dag_deploys,
    }


def current_fields(dep: views.DeploymentView) -> dict[str, str]:
    chosen = dep.dag_deployment
    out = {"dag_deployment": chosen.type.value, "nfs_location": chosen.nfs_location or ""}
    if chosen.git is not None:
        git = chosen.git
        out.update(
            repository_url=git.repository_url,
            branch_name=git.branch_name or "",
            rev=git.rev or "",
            dag_directory_location=git.dag_directory_location,
            sync_interval=str(git.sync_interval),
        )
    return out


class DagPages:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def dag_deploy(self, ctx: Ctx) -> Response:
        """A Deployment's DAG deploy settings: shown to its readers, changed by its editors."""
        dep = deployments.get(self.platform, ctx.user, ctx.request.path_params["id"])
        workspace = workspaces.get(self.platform, ctx.user, dep.workspace_id)
        ctx.base.update(workspaces=workspaces.list_for(self.platform, ctx.user), workspace=workspace)
        can_edit = access.can_edit(workspace.role, system_admin=ctx.user.is_system_admin)
        form = dag_fields(ctx, current_fields(dep))
        error = None
        if ctx.request.method == "POST":
            if not can_edit:
                raise errors.Forbidden()
            try:
                chosen, credentials = dag_request(ctx, form)
                changed = deployments.update(
                    self.platform, ctx.user, dep.id, dag_deployment=chosen, git_credentials=credentials
                )
            except errors.AirpoolError as exc:
                error = exc.message
            else:
                same = changed.updated_at == dep.updated_at
                ctx.session.notify(
                    "Nothing changed." if same else "DAG deploy settings saved; commander rolls them out."
                )
                return ctx.redirect(f"/deployments/{dep.id}")
        git = dep.dag_deployment.git
        return ctx.render(
            "dag_deploy.html",
            status=400 if error else 200,
            title=f"DAG deploy · {dep.label}",
            nav="deployments",
            deployment=dep,
            form=form,
            can_edit=can_edit,
            ssh_key_stored=bool(git and git.ssh),
            known_hosts_stored=bool(git and git.known_hosts),
            error=error,
            error_title="Nothing was changed",
            # a Deployment cannot move to NFS: the choice is not offered here
            **{**template_values(self.platform.config), "nfs_enabled": False},
        )
