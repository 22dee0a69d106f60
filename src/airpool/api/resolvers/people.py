"""People and access: workspace and Deployment users, service accounts, teams, and the shared ``User``,
``RoleBinding``, ``ServiceAccount`` and ``Team`` types, with Houston's names (see docs/api.md).

Input objects arrive with snake_cased keys (``UserSearch.fullName`` -> ``full_name``); roles arrive and leave as
Houston's names (``DEPLOYMENT_VIEWER``), which the services parse for the scope they expect.
"""

from __future__ import annotations

from typing import Any

from ariadne import MutationType, ObjectType, QueryType

from airpool.api.resolvers.common import Info, caller, memo, platform
from airpool.api.resolvers.workspaces import WorkspaceRef
from airpool.domain.errors import NotFound
from airpool.services import deployments, people, service_accounts, teams, workspaces
from airpool.services.views import (
    BindingView,
    DeploymentView,
    MemberView,
    ServiceAccountView,
    TeamView,
    UserView,
    WorkspaceView,
)

query = QueryType()
mutation = MutationType()
user_type = ObjectType("User")
binding_type = ObjectType("RoleBinding")
service_account_type = ObjectType("ServiceAccount")
team_type = ObjectType("Team")


def _search(user: dict[str, Any] | None) -> dict[str, str | None]:
    """Houston's ``UserSearch`` -> the services' filters (empty strings do not filter)."""
    given = user or {}
    return {
        "user_id": given.get("user_id") or given.get("user_uuid") or None,
        "email": given.get("email") or given.get("username") or None,
        "full_name": given.get("full_name") or None,
    }


# --- workspace users -----------------------------------------------------------------------------------------------


@query.field("workspaceUsers")
def resolve_workspace_users(
    _: Any, info: Info, *, workspace_uuid: str, user: dict[str, Any] | None = None
) -> list[MemberView]:
    return people.workspace_users(platform(info), caller(info), workspace_uuid, **_search(user))


@query.field("paginatedWorkspaceUsers")
def resolve_paginated_workspace_users(
    _: Any, info: Info, *, workspace_uuid: str, cursor: str | None = None, take: int | None = None
) -> list[MemberView]:
    return people.paginated_workspace_users(
        platform(info), caller(info), workspace_uuid, cursor=cursor or None, take=take
    )


@query.field("workspaceUser")
def resolve_workspace_user(_: Any, info: Info, *, workspace_uuid: str, user: dict[str, Any]) -> MemberView:
    search = _search(user)
    return people.workspace_user(platform(info), caller(info), workspace_uuid, email=search["email"] or "")


# --- Deployment users ----------------------------------------------------------------------------------------------


@query.field("deploymentUsers")
def resolve_deployment_users(
    _: Any, info: Info, *, deployment_id: str, user: dict[str, Any] | None = None
) -> list[MemberView]:
    return people.deployment_users(platform(info), caller(info), deployment_id, **_search(user))


@mutation.field("deploymentAddUserRole")
def resolve_deployment_add_user_role(
    _: Any, info: Info, *, email: str, deployment_id: str, role: str, user_id: str | None = None
) -> BindingView:
    return people.add_deployment_user(
        platform(info), caller(info), deployment_id, email=email, role=role, user_id=user_id or None
    )


@mutation.field("deploymentUpdateUserRole")
def resolve_deployment_update_user_role(
    _: Any, info: Info, *, email: str, deployment_id: str, role: str, user_id: str | None = None
) -> BindingView:
    return people.update_deployment_user(
        platform(info), caller(info), deployment_id, email=email, role=role, user_id=user_id or None
    )


@mutation.field("deploymentRemoveUserRole")
def resolve_deployment_remove_user_role(
    _: Any, info: Info, *, email: str, deployment_id: str, user_id: str | None = None
) -> BindingView:
    return people.remove_deployment_user(
        platform(info), caller(info), deployment_id, email=email, user_id=user_id or None
    )


# --- service accounts ----------------------------------------------------------------------------------------------


@query.field("workspaceServiceAccounts")
def resolve_workspace_service_accounts(_: Any, info: Info, *, workspace_uuid: str) -> list[ServiceAccountView]:
    return service_accounts.list_for(platform(info), caller(info), workspace_id=workspace_uuid)


@query.field("deploymentServiceAccounts")
def resolve_deployment_service_accounts(_: Any, info: Info, *, deployment_uuid: str) -> list[ServiceAccountView]:
    return service_accounts.list_for(platform(info), caller(info), deployment_id=deployment_uuid)


@mutation.field("createWorkspaceServiceAccount")
def resolve_create_workspace_service_account(
    _: Any, info: Info, *, label: str, workspace_uuid: str, role: str, category: str | None = None
) -> ServiceAccountView:
    return service_accounts.create(
        platform(info), caller(info), label=label, role=role, category=category, workspace_id=workspace_uuid
    )


@mutation.field("createDeploymentServiceAccount")
def resolve_create_deployment_service_account(
    _: Any, info: Info, *, label: str, deployment_uuid: str, role: str, category: str | None = None
) -> ServiceAccountView:
    return service_accounts.create(
        platform(info), caller(info), label=label, role=role, category=category, deployment_id=deployment_uuid
    )


@mutation.field("deleteWorkspaceServiceAccount")
def resolve_delete_workspace_service_account(
    _: Any, info: Info, *, service_account_uuid: str, workspace_uuid: str
) -> ServiceAccountView:
    return service_accounts.delete(platform(info), caller(info), service_account_uuid, workspace_id=workspace_uuid)


@mutation.field("deleteDeploymentServiceAccount")
def resolve_delete_deployment_service_account(
    _: Any, info: Info, *, service_account_uuid: str, deployment_uuid: str
) -> ServiceAccountView:
    return service_accounts.delete(platform(info), caller(info), service_account_uuid, deployment_id=deployment_uuid)


@service_account_type.field("apiKey")
def resolve_api_key(account: ServiceAccountView, _: Info) -> str | None:
    return account.api_key


@service_account_type.field("workspaceUuid")
def resolve_sa_workspace(account: ServiceAccountView, _: Info) -> str | None:
    return account.workspace_id


@service_account_type.field("deploymentUuid")
def resolve_sa_deployment(account: ServiceAccountView, _: Info) -> str | None:
    return account.deployment_id


@service_account_type.field("active")
def resolve_sa_active(*_: Any) -> bool:
    return True


@service_account_type.field("roleBinding")
def resolve_sa_role_binding(account: ServiceAccountView, _: Info) -> BindingView:
    return BindingView(
        id=account.id,
        role=account.role,
        service_account_id=account.id,
        service_account_label=account.label,
        workspace_id=account.workspace_id,
        deployment_id=account.deployment_id,
        service_account=account,
    )


# --- teams ---------------------------------------------------------------------------------------------------------


@query.field("team")
def resolve_team(_: Any, info: Info, *, team_uuid: str, workspace_uuid: str | None = None) -> TeamView:
    return teams.get(platform(info), caller(info), team_uuid)


@query.field("teamUsers")
def resolve_team_users(_: Any, info: Info, *, team_uuid: str) -> list[MemberView]:
    return teams.members(platform(info), caller(info), team_uuid)


@query.field("paginatedTeams")
def resolve_paginated_teams(
    _: Any, info: Info, *, take: int | None = None, cursor: str | None = None, workspace_uuid: str | None = None
) -> dict[str, Any]:
    count, page = teams.list_teams(
        platform(info), caller(info), workspace_id=workspace_uuid or None, take=take, cursor=cursor or None
    )
    return {"count": count, "teams": page}


@query.field("workspaceTeams")
def resolve_workspace_teams(_: Any, info: Info, *, workspace_uuid: str) -> list[TeamView]:
    return teams.workspace_teams(platform(info), caller(info), workspace_uuid)


@query.field("deploymentTeams")
def resolve_deployment_teams(_: Any, info: Info, *, deployment_uuid: str) -> list[TeamView]:
    return teams.deployment_teams(platform(info), caller(info), deployment_uuid)


@mutation.field("workspaceAddTeam")
def resolve_workspace_add_team(
    _: Any,
    info: Info,
    *,
    workspace_uuid: str,
    team_uuid: str,
    role: str | None = None,
    deployment_roles: list[dict[str, Any]] | None = None,
) -> WorkspaceView:
    teams.add_to_workspace(
        platform(info),
        caller(info),
        workspace_uuid,
        team_uuid,
        role=role or "WORKSPACE_VIEWER",
        deployment_roles=[(str(d["deployment_id"]), str(d["role"])) for d in deployment_roles or ()],
    )
    return workspaces.get(platform(info), caller(info), workspace_uuid)


@mutation.field("workspaceRemoveTeam")
def resolve_workspace_remove_team(_: Any, info: Info, *, workspace_uuid: str, team_uuid: str) -> WorkspaceView:
    before = workspaces.get(platform(info), caller(info), workspace_uuid)
    teams.remove_from_workspace(platform(info), caller(info), workspace_uuid, team_uuid)
    return before


@mutation.field("workspaceUpdateTeamRole")
def resolve_workspace_update_team_role(_: Any, info: Info, *, workspace_uuid: str, team_uuid: str, role: str) -> str:
    return teams.set_workspace_role(platform(info), caller(info), workspace_uuid, team_uuid, role=role)


@mutation.field("deploymentAddTeamRole")
def resolve_deployment_add_team_role(
    _: Any, info: Info, *, team_uuid: str, deployment_uuid: str, role: str
) -> BindingView:
    return teams.add_to_deployment(platform(info), caller(info), deployment_uuid, team_uuid, role=role)


@mutation.field("deploymentUpdateTeamRole")
def resolve_deployment_update_team_role(
    _: Any, info: Info, *, team_uuid: str, deployment_uuid: str, role: str
) -> BindingView:
    return teams.update_deployment_role(platform(info), caller(info), deployment_uuid, team_uuid, role=role)


@mutation.field("deploymentRemoveTeamRole")
def resolve_deployment_remove_team_role(_: Any, info: Info, *, team_uuid: str, deployment_uuid: str) -> BindingView:
    return teams.remove_from_deployment(platform(info), caller(info), deployment_uuid, team_uuid)


@mutation.field("createTeamSystemRoleBinding")
def resolve_create_team_system_role(_: Any, info: Info, *, team_uuid: str, role: str) -> BindingView:
    name = teams.set_system_role(platform(info), caller(info), team_uuid, role=role)
    return BindingView(id=f"{team_uuid}-system", role=name, team_id=team_uuid)


@mutation.field("deleteTeamSystemRoleBinding")
def resolve_delete_team_system_role(_: Any, info: Info, *, team_uuid: str, role: str) -> BindingView:
    name = teams.remove_system_role(platform(info), caller(info), team_uuid, role=role)
    return BindingView(id=f"{team_uuid}-system", role=name, team_id=team_uuid)


@mutation.field("createTeam")
def resolve_create_team(_: Any, info: Info, *, name: str) -> TeamView:
    return teams.create(platform(info), caller(info), name=name)


@mutation.field("deleteTeam")
def resolve_delete_team(_: Any, info: Info, *, team_uuid: str) -> TeamView:
    return teams.delete(platform(info), caller(info), team_uuid)


@mutation.field("teamAddUser")
def resolve_team_add_user(_: Any, info: Info, *, team_uuid: str, email: str) -> TeamView:
    return teams.add_member(platform(info), caller(info), team_uuid, email=email)


@mutation.field("teamRemoveUser")
def resolve_team_remove_user(_: Any, info: Info, *, team_uuid: str, user_uuid: str) -> TeamView:
    return teams.remove_member(platform(info), caller(info), team_uuid, user_id=user_uuid)


@team_type.field("users")
def resolve_team_members(team: TeamView, info: Info) -> list[MemberView]:
    return teams.members(platform(info), caller(info), team.id)


# --- shared types --------------------------------------------------------------------------------------------------


@user_type.field("roleBindings")
def resolve_user_role_bindings(user: UserView, info: Info) -> tuple[BindingView, ...] | list[BindingView]:
    if isinstance(user, MemberView):
        return user.role_bindings
    found = people.member_users(platform(info), caller(info), [user.id])
    return list(found[0].role_bindings) if found else []


@binding_type.field("user")
def resolve_binding_user(binding: BindingView, _: Info) -> dict[str, str] | None:
    if binding.user_id is None:
        return None
    return {"id": binding.user_id, "username": binding.username or ""}


@binding_type.field("serviceAccount")
def resolve_binding_service_account(binding: BindingView, _: Info) -> ServiceAccountView | None:
    return binding.service_account


@binding_type.field("workspace")
def resolve_binding_workspace(binding: BindingView, _: Info) -> WorkspaceRef | None:
    return WorkspaceRef(id=binding.workspace_id) if binding.workspace_id else None


@binding_type.field("deployment")
def resolve_binding_deployment(binding: BindingView, info: Info) -> DeploymentView | None:
    dep_id = binding.deployment_id
    if dep_id is None:
        return None

    def load() -> DeploymentView | None:
        try:
            return deployments.get(platform(info), caller(info), dep_id)
        except NotFound:
            return None

    found: DeploymentView | None = memo(info, ("deployment", dep_id), load)
    return found


@binding_type.field("team")
def resolve_binding_team(binding: BindingView, info: Info) -> TeamView | None:
    team_id = binding.team_id
    if team_id is None:
        return None

    def load() -> TeamView | None:
        try:
            return teams.get(platform(info), caller(info), team_id)
        except NotFound:
            return None

    found: TeamView | None = memo(info, ("team", team_id), load)
    return found


BINDABLES = (query, mutation, user_type, binding_type, service_account_type, team_type)
