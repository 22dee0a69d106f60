"""Pages for people and access: workspace members, a Deployment's access, service accounts, teams (system admins).

Thin over the same services as the API (``people``, ``service_accounts``, ``teams``): every read and change is
checked there, so these pages only decide which forms to show. A refused or mistaken form is shown again with
the error on top; a change redirects with a notice, except creating a service account, which renders its API
key once, right there (it is never stored, so it can never be shown again).
"""

from __future__ import annotations

from starlette.responses import Response

from airpool.domain import errors
from airpool.services import access, deployments, people, service_accounts, teams, views, workspaces
from airpool.services.platform import Platform
from airpool.ui.framework import Ctx

ROLES = ("ADMIN", "EDITOR", "VIEWER")


class PeoplePages:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def _workspace(self, ctx: Ctx, workspace_id: str) -> views.WorkspaceView:
        workspace = workspaces.get(self.platform, ctx.user, workspace_id)
        ctx.session.remember_workspace(workspace.id)
        ctx.base.update(workspaces=workspaces.list_for(self.platform, ctx.user), workspace=workspace)
        return workspace

    def _is_admin(self, ctx: Ctx, workspace: views.WorkspaceView) -> bool:
        return bool(ctx.user.is_system_admin or workspace.role == access.Role.ADMIN.value)

    # ---- workspace members and teams ----------------------------------------------------------------------------

    def members(self, ctx: Ctx) -> Response:
        workspace = self._workspace(ctx, ctx.request.path_params["workspace_id"])
        error = None
        if ctx.request.method == "POST":
            try:
                notice = self._change_members(ctx, workspace)
            except errors.AirpoolError as exc:
                error = exc.message
            else:
                ctx.session.notify(notice)
                return ctx.redirect(f"/w/{workspace.id}/members")
        users = people.workspace_users(self.platform, ctx.user, workspace.id)
        rows = [
            {"id": u.id, "username": u.username, "full_name": u.full_name, "role": _role_of(u, workspace.id)}
            for u in users
        ]
        return ctx.render(
            "members.html",
            status=400 if error else 200,
            title=f"Members · {workspace.label}",
            nav="members",
            members=rows,
            teams=teams.workspace_teams(self.platform, ctx.user, workspace.id),
            can_manage=self._is_admin(ctx, workspace),
            roles=[f"WORKSPACE_{r}" for r in ROLES],
            error=error,
            error_title="Nothing was changed",
            email=ctx.field("email") if error else "",
        )

    def _change_members(self, ctx: Ctx, workspace: views.WorkspaceView) -> str:
        action = ctx.field("action")
        email, role = ctx.field("email"), ctx.field("role")
        if action == "add":
            given = people.add_workspace_user(self.platform, ctx.user, workspace.id, email=email, role=role)
            return f"Added {email} as {given}."
        if action == "role":
            given = people.set_workspace_user_role(self.platform, ctx.user, workspace.id, email=email, role=role)
            return f"{email} is now {given}."
        if action == "remove":
            people.remove_workspace_user(self.platform, ctx.user, workspace.id, user_id=ctx.field("user_id"))
            return f"Removed {email} from the workspace."
        if action == "add-team":
            team = ctx.field("team")
            teams.add_to_workspace(self.platform, ctx.user, workspace.id, team, role=role)
            return "Team added."
        if action == "remove-team":
            teams.remove_from_workspace(self.platform, ctx.user, workspace.id, ctx.field("team"))
            return "Team removed."
        raise errors.InvalidInput(f"unknown action {action!r}")

    # ---- workspace service accounts ------------------------------------------------------------------------------

    def workspace_service_accounts(self, ctx: Ctx) -> Response:
        workspace = self._workspace(ctx, ctx.request.path_params["workspace_id"])
        error, created = None, None
        if ctx.request.method == "POST":
            try:
                created = self._change_accounts(ctx, workspace_id=workspace.id, deployment_id=None)
            except errors.AirpoolError as exc:
                error = exc.message
            else:
                if created is None:
                    return ctx.redirect(f"/w/{workspace.id}/service-accounts")
        return ctx.render(
            "service_accounts.html",
            status=400 if error else 200,
            title=f"Service accounts · {workspace.label}",
            nav="service-accounts",
            scope_label=f"workspace {workspace.label}",
            action=f"/w/{workspace.id}/service-accounts",
            accounts=service_accounts.list_for(self.platform, ctx.user, workspace_id=workspace.id),
            created=created,
            can_manage=self._is_admin(ctx, workspace),
            roles=[f"WORKSPACE_{r}" for r in ROLES],
            error=error,
            error_title="Nothing was changed",
        )

    def _change_accounts(
        self, ctx: Ctx, *, workspace_id: str | None, deployment_id: str | None
    ) -> views.ServiceAccountView | None:
        if ctx.field("action") == "create":
            return service_accounts.create(
                self.platform,
                ctx.user,
                label=ctx.field("label"),
                role=ctx.field("role"),
                category=ctx.field("category"),
                workspace_id=workspace_id,
                deployment_id=deployment_id,
            )
        gone = service_accounts.delete(
            self.platform, ctx.user, ctx.field("account_id"), workspace_id=workspace_id, deployment_id=deployment_id
        )
        ctx.session.notify(f"Deleted service account {gone.label}; its key no longer works.")
        return None

    # ---- a Deployment's access ----------------------------------------------------------------------------------

    def deployment_access(self, ctx: Ctx) -> Response:
        dep = deployments.get(self.platform, ctx.user, ctx.request.path_params["id"])
        workspace = self._workspace(ctx, dep.workspace_id)
        error, created = None, None
        if ctx.request.method == "POST":
            try:
                created = self._change_deployment(ctx, dep)
            except errors.AirpoolError as exc:
                error = exc.message
            else:
                if created is None:
                    return ctx.redirect(f"/deployments/{dep.id}/access")
        abilities = people.deployment_abilities(self.platform, ctx.user, dep.id)
        users = people.deployment_users(self.platform, ctx.user, dep.id)
        return ctx.render(
            "deployment_access.html",
            status=400 if error else 200,
            title=f"Access · {dep.label}",
            nav="deployments",
            deployment=dep,
            workspace=workspace,
            users=[{"id": u.id, "username": u.username, "role": _role_of(u, dep.workspace_id, dep.id)} for u in users],
            teams=teams.deployment_teams(self.platform, ctx.user, dep.id),
            accounts=service_accounts.list_for(self.platform, ctx.user, deployment_id=dep.id),
            created=created,
            your_role=access.houston_role(access.Scope.DEPLOYMENT, abilities.role)
            if abilities.role
            else "SYSTEM_ADMIN",
            can_manage=abilities.can_manage,
            roles=[f"DEPLOYMENT_{r}" for r in ROLES],
            action=f"/deployments/{dep.id}/access",
            error=error,
            error_title="Nothing was changed",
        )

    def _change_deployment(self, ctx: Ctx, dep: views.DeploymentView) -> views.ServiceAccountView | None:
        action = ctx.field("action")
        email, role = ctx.field("email"), ctx.field("role")
        if action in ("create", "delete"):
            return self._change_accounts(ctx, workspace_id=None, deployment_id=dep.id)
        if action == "add":
            given = people.add_deployment_user(self.platform, ctx.user, dep.id, email=email, role=role)
            ctx.session.notify(f"{email} is now {given.role} on {dep.label}.")
        elif action == "role":
            given = people.update_deployment_user(self.platform, ctx.user, dep.id, email=email, role=role)
            ctx.session.notify(f"{email} is now {given.role} on {dep.label}.")
        elif action == "remove":
            people.remove_deployment_user(self.platform, ctx.user, dep.id, email=email)
            ctx.session.notify(f"Removed {email}'s role on {dep.label}.")
        else:
            raise errors.InvalidInput(f"unknown action {action!r}")
        return None

    # ---- teams (system admins) ----------------------------------------------------------------------------------

    def teams(self, ctx: Ctx) -> Response:
        access.require_system_admin(ctx.user)
        visible = workspaces.list_for(self.platform, ctx.user)
        ctx.base.update(workspaces=visible, workspace=visible[0] if visible else None)
        error = None
        if ctx.request.method == "POST":
            try:
                notice = self._change_teams(ctx)
            except errors.AirpoolError as exc:
                error = exc.message
            else:
                ctx.session.notify(notice)
                return ctx.redirect("/admin/teams")
        _, found = teams.list_teams(self.platform, ctx.user)
        return ctx.render(
            "teams.html",
            status=400 if error else 200,
            title="Teams",
            nav="teams",
            teams=[(t, teams.members(self.platform, ctx.user, t.id)) for t in found],
            labels={w.id: w.label for w in visible},
            error=error,
            error_title="Nothing was changed",
        )

    def _change_teams(self, ctx: Ctx) -> str:
        action, team_id = ctx.field("action"), ctx.field("team")
        if action == "create":
            made = teams.create(self.platform, ctx.user, name=ctx.field("name"))
            return f"Created team {made.name}."
        if action == "delete":
            gone = teams.delete(self.platform, ctx.user, team_id)
            return f"Deleted team {gone.name}."
        if action == "add-user":
            teams.add_member(self.platform, ctx.user, team_id, email=ctx.field("email"))
            return f"Added {ctx.field('email')}."
        if action == "remove-user":
            teams.remove_member(self.platform, ctx.user, team_id, user_id=ctx.field("user_id"))
            return "Removed the member."
        if action == "system-role":
            role = ctx.field("role")
            if role:
                return f"The team is now {teams.set_system_role(self.platform, ctx.user, team_id, role=role)}."
            current = teams.get(self.platform, ctx.user, team_id)
            system = [b.role for b in current.role_bindings if b.role.startswith("SYSTEM_")]
            for name in system:
                teams.remove_system_role(self.platform, ctx.user, team_id, role=name)
            return "The team has no system role now."
        raise errors.InvalidInput(f"unknown action {action!r}")


def _role_of(user: views.MemberView, workspace_id: str, deployment_id: str | None = None) -> str:
    for binding in user.role_bindings:
        if deployment_id is not None and binding.deployment_id == deployment_id:
            return binding.role
        if deployment_id is None and binding.deployment_id is None and binding.workspace_id == workspace_id:
            return binding.role
    return ""
