"""Workspaces: ``workspaces``, ``workspace``, ``paginatedWorkspaces``, ``createWorkspace``, ``updateWorkspace``,
``deleteWorkspace``, and their members (``workspaceAddUser``, ``workspaceRemoveUser``, ``workspaceUpsertUserRole``).

A Deployment's ``workspace`` is often selected only for its id, so Deployments hand out a ``WorkspaceRef`` and
the other fields load the workspace (once per request) only when asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ariadne import MutationType, ObjectType, QueryType

from airpool.api.resolvers.common import Info, caller, memo, platform
from airpool.domain.errors import NotFound
from airpool.services import people, workspaces
from airpool.services.views import BindingView, MemberView, WorkspaceView

query = QueryType()
mutation = MutationType()
workspace_type = ObjectType("Workspace")


@dataclass(frozen=True)
class WorkspaceRef:
    id: str


def _page(take: int | None, page_number: int | None) -> tuple[int | None, int]:
    """Houston's paging: ``take`` rows of 1-based ``pageNumber``; no or a negative ``take`` means everything."""
    if take is None or take < 0:
        return None, 0
    page = max(page_number or 1, 1)
    return take, (page - 1) * take


@query.field("workspaces")
def resolve_workspaces(_: Any, info: Info) -> list[WorkspaceView]:
    return workspaces.list_for(platform(info), caller(info))


@query.field("paginatedWorkspaces")
def resolve_paginated_workspaces(
    _: Any, info: Info, *, take: int | None = None, page_number: int | None = None
) -> list[WorkspaceView]:
    limit, offset = _page(take, page_number)
    return workspaces.list_for(platform(info), caller(info), take=limit, offset=offset)


@query.field("workspace")
def resolve_workspace(_: Any, info: Info, *, workspace_uuid: str) -> WorkspaceView | None:
    """Houston answers null for a workspace the caller cannot see; the CLI reports "workspace not found"."""
    try:
        return workspaces.get(platform(info), caller(info), workspace_uuid)
    except NotFound:
        return None


@mutation.field("createWorkspace")
def resolve_create_workspace(_: Any, info: Info, *, label: str, description: str | None = None) -> WorkspaceView:
    return workspaces.create(platform(info), caller(info), label=label, description=description or "")


@mutation.field("workspaceAddUser")
def resolve_workspace_add_user(
    _: Any,
    info: Info,
    *,
    workspace_uuid: str,
    email: str,
    role: str | None = None,
    bypass_invite: bool | None = None,
) -> WorkspaceView:
    people.add_workspace_user(
        platform(info), caller(info), workspace_uuid, email=email, role=role or "WORKSPACE_VIEWER"
    )
    return workspaces.get(platform(info), caller(info), workspace_uuid)


@mutation.field("workspaceRemoveUser")
def resolve_workspace_remove_user(_: Any, info: Info, *, workspace_uuid: str, user_uuid: str) -> WorkspaceView:
    before = workspaces.get(platform(info), caller(info), workspace_uuid)
    people.remove_workspace_user(platform(info), caller(info), workspace_uuid, user_id=user_uuid)
    return before


@mutation.field("workspaceUpsertUserRole")
def resolve_workspace_upsert_user_role(_: Any, info: Info, *, workspace_uuid: str, email: str, role: str) -> str:
    return people.set_workspace_user_role(platform(info), caller(info), workspace_uuid, email=email, role=role)


@mutation.field("updateWorkspace")
def resolve_update_workspace(_: Any, info: Info, *, workspace_uuid: str, payload: Any) -> WorkspaceView:
    return workspaces.update(platform(info), caller(info), workspace_uuid, payload)


@mutation.field("deleteWorkspace")
def resolve_delete_workspace(_: Any, info: Info, *, workspace_uuid: str) -> WorkspaceView:
    return workspaces.delete(platform(info), caller(info), workspace_uuid)


def full(workspace: WorkspaceView | WorkspaceRef, info: Info) -> WorkspaceView:
    if isinstance(workspace, WorkspaceView):
        return workspace
    found: WorkspaceView = memo(
        info, ("workspace", workspace.id), lambda: workspaces.get(platform(info), caller(info), workspace.id)
    )
    return found


def _field(name: str) -> Any:
    def resolve(workspace: WorkspaceView | WorkspaceRef, info: Info) -> Any:
        return getattr(full(workspace, info), name)

    return resolve


for _graphql_name, _attribute in (
    ("label", "label"),
    ("description", "description"),
    ("createdAt", "created_at"),
    ("updatedAt", "updated_at"),
):
    workspace_type.set_field(_graphql_name, _field(_attribute))


@workspace_type.field("roleBindings")
def resolve_role_bindings(workspace: WorkspaceView | WorkspaceRef, info: Info) -> list[BindingView]:
    bindings: list[BindingView] = memo(
        info,
        ("bindings", workspace.id),
        lambda: people.workspace_bindings(platform(info), caller(info), workspace.id),
    )
    return bindings


@workspace_type.field("users")
def resolve_users(workspace: WorkspaceView | WorkspaceRef, info: Info) -> list[MemberView]:
    return people.workspace_users(platform(info), caller(info), workspace.id)


BINDABLES = (query, mutation, workspace_type)
