"""Who may do what: the caller (``Actor``), workspace and Deployment roles, and the checks every service runs first.

Rules:

- A system admin may do anything. A team bound to ``SYSTEM_ADMIN`` makes its members system admins;
  ``SYSTEM_EDITOR`` / ``SYSTEM_VIEWER`` give that role (editor, viewer) in every workspace.
- In a workspace, a viewer reads, an editor also creates and deletes Deployments, an admin also manages members,
  teams, service accounts, and updates or deletes the workspace. A user's role is the highest of their own
  binding and those of their teams.
- On one Deployment the role is the highest of the workspace role (admin, editor, viewer carry over) and the
  Deployment's own bindings (the user's, their teams'): a Deployment viewer reads it, an editor also updates it,
  an admin also deletes it and manages its users, teams and service accounts. A workspace editor may delete any
  Deployment of the workspace (they may create them, too). Deployment roles never reach another Deployment.
- A service account acts with exactly its role in exactly its scope (one workspace, or one Deployment) and
  nothing else: no system powers, no other workspace or Deployment, never a workspace of its own.

Anything the caller has no role in does not exist for them: the error is ``NotFound`` naming only the id they
sent, so another workspace's names never leak. A role too low for the action is ``Forbidden`` (Houston's words).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session

from airpool.domain.errors import Forbidden, InvalidInput, NotFound
from airpool.store import models


class Role(StrEnum):
    ADMIN = "admin"
    EDITOR = "editor"
    VIEWER = "viewer"


class Scope(StrEnum):
    SYSTEM = "system"
    WORKSPACE = "workspace"
    DEPLOYMENT = "deployment"


_RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.ADMIN: 3}


def role_allows(role: Role, minimum: Role) -> bool:
    return _RANK[role] >= _RANK[minimum]


def highest(roles: Iterable[Role | str | None]) -> Role | None:
    found = [Role(r) for r in roles if r]
    return max(found, key=_RANK.__getitem__) if found else None


def can_edit(role: Role | str | None, *, system_admin: bool = False) -> bool:
    """May this role create and delete Deployments? (For showing or hiding buttons; the services check again.)"""
    return system_admin or (role is not None and role_allows(Role(role), Role.EDITOR))


# --- Houston's role names ------------------------------------------------------------------------------------------


def houston_role(scope: Scope, role: Role | str) -> str:
    """``(workspace, admin)`` -> ``WORKSPACE_ADMIN``: the name the API and the astro CLI use."""
    return f"{scope.value}_{Role(role).value}".upper()


def parse_role(name: str, scope: Scope) -> Role:
    """``WORKSPACE_EDITOR`` (or ``editor``) -> ``Role.EDITOR`` for ``scope``; anything else is a clear error."""
    allowed = [houston_role(scope, r) for r in (Role.ADMIN, Role.EDITOR, Role.VIEWER)]
    text = (name or "").strip()
    for role in Role:
        if text.upper() == houston_role(scope, role) or text.lower() == role.value:
            return role
    raise InvalidInput(f"role {shown(text, 40)} is not a {scope.value} role; allowed: {', '.join(allowed)}")


# --- the caller ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceAccountScope:
    """Where a service account may act, and with which role (exactly one of the two ids is set)."""

    id: str
    label: str
    role: Role
    workspace_id: str | None = None
    deployment_id: str | None = None


@dataclass(frozen=True)
class Actor:
    """The authenticated caller, from ``auth.authenticate``. Cheap to pass around; re-checked per transaction."""

    user_id: str
    username: str
    is_system_admin: bool = False
    #: ``SYSTEM_EDITOR`` / ``SYSTEM_VIEWER`` through a team: this role in every workspace.
    system_role: Role | None = None
    #: Set when a service account's API key authenticated the request (``user_id`` is then the account's id).
    service_account: ServiceAccountScope | None = None

    #: The session (log-in) or API token the caller authenticated with: what ``logout`` ends.
    session_id: str | None = None
    api_token_id: str | None = None

    @property
    def is_service_account(self) -> bool:
        return self.service_account is not None


def actor_for_user(s: Session, user: models.User) -> Actor:
    """The caller behind a user account, with the system roles their teams carry."""
    system = s.scalars(
        sa.select(models.TeamRoleBinding.role)
        .join(models.TeamMember, models.TeamMember.team_id == models.TeamRoleBinding.team_id)
        .where(models.TeamMember.user_id == user.id, models.TeamRoleBinding.scope == Scope.SYSTEM.value)
    )
    return actor_of(user.id, user.username, is_system_admin=user.is_system_admin, system_roles=system)


def actor_of(user_id: str, username: str, *, is_system_admin: bool, system_roles: Iterable[str | None]) -> Actor:
    """The caller behind a user account from its row's values and the system roles of its teams."""
    system = [Role(r) for r in system_roles if r]
    return Actor(
        user_id=user_id,
        username=username,
        is_system_admin=is_system_admin or Role.ADMIN in system,
        system_role=highest(r for r in system if r is not Role.ADMIN),
    )


def shown(value: str, limit: int = 80) -> str:
    """A user-supplied value quoted for an error message, cut short so a 10,000-character input stays readable."""
    return repr(value) if len(value) <= limit else repr(value[:limit]) + f"... ({len(value)} characters)"


def workspace_not_found(workspace_id: str) -> NotFound:
    return NotFound(f"workspace {shown(workspace_id)} not found")


def deployment_not_found(deployment_id: str) -> NotFound:
    return NotFound(f"deployment {shown(deployment_id)} not found")


# --- roles ---------------------------------------------------------------------------------------------------------


def _team_ids(actor: Actor) -> sa.Select[str]:
    return sa.select(models.TeamMember.team_id).where(models.TeamMember.user_id == actor.user_id)


def workspace_role(s: Session, actor: Actor, workspace_id: str) -> Role | None:
    """The caller's effective role in a workspace (own binding, teams, system role), None if they have none.

    A system admin has none unless bound: callers check ``is_system_admin`` themselves."""
    if actor.service_account is not None:
        sa_scope = actor.service_account
        return sa_scope.role if sa_scope.workspace_id == workspace_id else None
    own = s.scalar(
        sa.select(models.RoleBinding.role).where(
            models.RoleBinding.workspace_id == workspace_id, models.RoleBinding.user_id == actor.user_id
        )
    )
    teams = s.scalars(
        sa.select(models.TeamRoleBinding.role).where(
            models.TeamRoleBinding.scope == Scope.WORKSPACE.value,
            models.TeamRoleBinding.scope_id == workspace_id,
            models.TeamRoleBinding.team_id.in_(_team_ids(actor)),
        )
    )
    return highest([own, actor.system_role, *teams])


def holds_role(
    workspace_id: sa.ColumnElement[str], user_id: sa.ColumnElement[str], minimum: Role
) -> sa.ColumnElement[bool]:
    """SQL: the user holds at least ``minimum`` in the workspace through their own binding or a team's (the system
    role and service accounts are the caller's to check, as ``workspace_role`` does); for statements that check
    the role and write in one."""
    enough = [r.value for r in Role if role_allows(r, minimum)]
    TRB = models.TeamRoleBinding
    own = sa.exists().where(
        models.RoleBinding.workspace_id == workspace_id,
        models.RoleBinding.user_id == user_id,
        models.RoleBinding.role.in_(enough),
    )
    teams = sa.exists().where(
        TRB.scope == Scope.WORKSPACE.value,
        TRB.scope_id == workspace_id,
        TRB.role.in_(enough),
        TRB.team_id.in_(sa.select(models.TeamMember.team_id).where(models.TeamMember.user_id == user_id)),
    )
    return own | teams


def role_in(s: Session, actor: Actor, workspace_id: str) -> Role | None:
    return workspace_role(s, actor, workspace_id)


def require_role(s: Session, actor: Actor, workspace_id: str, minimum: Role) -> models.Workspace:
    """The workspace if ``actor`` holds at least ``minimum`` there; NotFound if they hold nothing, else Forbidden."""
    ws = s.get(models.Workspace, workspace_id)
    if ws is None:
        raise workspace_not_found(workspace_id)
    if actor.is_system_admin:
        return ws
    role = workspace_role(s, actor, workspace_id)
    if role is None:
        raise workspace_not_found(workspace_id)
    if not role_allows(role, minimum):
        raise Forbidden()
    return ws


def deployment_only_role(s: Session, actor: Actor, deployment_id: str) -> Role | None:
    """The caller's role from the Deployment's own bindings (theirs, their teams', a Deployment service account)."""
    if actor.service_account is not None:
        sa_scope = actor.service_account
        return sa_scope.role if sa_scope.deployment_id == deployment_id else None
    own = s.scalar(
        sa.select(models.DeploymentRoleBinding.role).where(
            models.DeploymentRoleBinding.deployment_id == deployment_id,
            models.DeploymentRoleBinding.user_id == actor.user_id,
        )
    )
    teams = s.scalars(
        sa.select(models.TeamRoleBinding.role).where(
            models.TeamRoleBinding.scope == Scope.DEPLOYMENT.value,
            models.TeamRoleBinding.scope_id == deployment_id,
            models.TeamRoleBinding.team_id.in_(_team_ids(actor)),
        )
    )
    return highest([own, *teams])


def deployment_role(s: Session, actor: Actor, dep: models.Deployment) -> Role | None:
    """The caller's effective role on a Deployment (see the module docstring), None if they have none."""
    return highest([workspace_role(s, actor, dep.workspace_id), deployment_only_role(s, actor, dep.id)])


def require_deployment(
    s: Session, actor: Actor, dep: models.Deployment, minimum: Role, *, or_workspace: Role | None = None
) -> None:
    """NotFound (naming only the id) if the caller has no role on ``dep``; Forbidden if it is below ``minimum``
    and their workspace role is below ``or_workspace`` (when given)."""
    if actor.is_system_admin:
        return
    ws_role = workspace_role(s, actor, dep.workspace_id)
    role = highest([ws_role, deployment_only_role(s, actor, dep.id)])
    if role is None:
        raise deployment_not_found(dep.id)
    if role_allows(role, minimum):
        return
    if or_workspace is not None and ws_role is not None and role_allows(ws_role, or_workspace):
        return
    raise Forbidden()


def live_deployment(s: Session, actor: Actor, deployment_id: str, minimum: Role) -> models.Deployment:
    """The live (not deleted) Deployment if the caller holds ``minimum`` on it; managing its people (``ADMIN``)
    is also open to the admins of its workspace. NotFound for a deleted, unknown or unreadable one."""
    dep = s.get(models.Deployment, deployment_id) if deployment_id else None
    if dep is None or dep.deleted_at is not None:
        raise deployment_not_found(deployment_id)
    require_deployment(s, actor, dep, minimum, or_workspace=Role.ADMIN if minimum is Role.ADMIN else None)
    return dep


def require_system_admin(actor: Actor) -> None:
    if not actor.is_system_admin:
        raise Forbidden()


def require_user(actor: Actor) -> None:
    """Things only a person does (create a workspace, API tokens): refused for service accounts."""
    if actor.service_account is not None:
        raise Forbidden()


def visible_workspace_ids(actor: Actor) -> sa.Select[str] | sa.CompoundSelect[str]:
    """Subquery of the workspaces ``actor`` may read."""
    if actor.is_system_admin or actor.system_role is not None:
        return sa.select(models.Workspace.id)
    if actor.service_account is not None:
        return sa.select(models.Workspace.id).where(models.Workspace.id == actor.service_account.workspace_id)
    return sa.union(
        sa.select(models.RoleBinding.workspace_id).where(models.RoleBinding.user_id == actor.user_id),
        sa.select(models.TeamRoleBinding.scope_id).where(
            models.TeamRoleBinding.scope == Scope.WORKSPACE.value,
            models.TeamRoleBinding.team_id.in_(_team_ids(actor)),
        ),
    )


def visible_deployments(actor: Actor) -> sa.ColumnElement[bool]:
    """A WHERE clause on ``models.Deployment`` for the Deployments ``actor`` may read."""
    D = models.Deployment
    if actor.service_account is not None and actor.service_account.deployment_id is not None:
        return D.id == actor.service_account.deployment_id
    return D.workspace_id.in_(visible_workspace_ids(actor))


@dataclass(frozen=True)
class DeploymentAbilities:
    """What the caller may do with one Deployment (for showing buttons; the services check again)."""

    role: Role | None
    can_update: bool
    can_delete: bool
    #: Manage its users, teams and service accounts.
    can_manage: bool


def deployment_abilities(s: Session, actor: Actor, dep: models.Deployment) -> DeploymentAbilities:
    if actor.is_system_admin:
        return DeploymentAbilities(role=Role.ADMIN, can_update=True, can_delete=True, can_manage=True)
    ws_role = workspace_role(s, actor, dep.workspace_id)
    role = highest([ws_role, deployment_only_role(s, actor, dep.id)])
    return DeploymentAbilities(
        role=role,
        can_update=role is not None and role_allows(role, Role.EDITOR),
        can_delete=role is Role.ADMIN or (ws_role is not None and role_allows(ws_role, Role.EDITOR)),
        can_manage=role is Role.ADMIN,
    )
