"""People in workspaces and Deployments: Houston's workspace users and Deployment user roles.

Users are found by their email, which is their username on airpool (``createUser(email:)`` and single sign-on
store the email as the username). A Deployment role is given only to a member of the Deployment's workspace,
and leaving the workspace removes the member's Deployment roles there, as in Houston. A workspace keeps at least
one admin: removing or demoting the last one is refused.

Who may do what (``services.access``): workspace viewers list members; workspace admins add, remove and change
them; Deployment viewers list a Deployment's users; Deployment admins (or workspace admins) change them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from airpool.domain.errors import Conflict, NotFound
from airpool.services import access, audit, service_accounts, views
from airpool.services.access import Actor, Role, Scope
from airpool.services.platform import Platform
from airpool.store import models

U = models.User
RB = models.RoleBinding
DRB = models.DeploymentRoleBinding
D = models.Deployment


# --- lookups -------------------------------------------------------------------------------------------------------


def find_user(s: Session, email: str) -> models.User:
    """The user whose username (email) is ``email``, exactly or ignoring case; NotFound otherwise."""
    wanted = (email or "").strip()
    user = s.scalar(sa.select(U).where(U.username == wanted))
    if user is None and wanted:
        user = s.scalar(sa.select(U).where(sa.func.lower(U.username) == wanted.lower()).order_by(U.username).limit(1))
    if user is None:
        raise NotFound(
            f"user {access.shown(wanted)} not found: a system admin creates accounts (or the user logs in once "
            "with single sign-on)"
        )
    return user


def bindings_of(s: Session, actor: Actor, user_ids: Iterable[str]) -> dict[str, list[views.BindingView]]:
    """Each user's role bindings that the caller may see: system admin, workspaces and live Deployments."""
    ids = list(dict.fromkeys(user_ids))
    found: dict[str, list[views.BindingView]] = {uid: [] for uid in ids}
    if not ids:
        return found
    for uid, name in s.execute(sa.select(U.id, U.username).where(U.id.in_(ids), U.is_system_admin.is_(True))):
        found[uid].append(views.BindingView(id=f"system-{uid}", role="SYSTEM_ADMIN", user_id=uid, username=name))
    rows = s.execute(
        sa.select(RB.id, RB.role, RB.workspace_id, U.id, U.username)
        .join(U, U.id == RB.user_id)
        .where(RB.user_id.in_(ids), RB.workspace_id.in_(access.visible_workspace_ids(actor)))
        .order_by(RB.created_at, RB.id)
    )
    for rid, role, ws_id, uid, name in rows:
        found[uid].append(
            views.BindingView(
                id=str(rid),
                role=access.houston_role(Scope.WORKSPACE, role),
                user_id=uid,
                username=name,
                workspace_id=ws_id,
            )
        )
    drows = s.execute(
        sa.select(DRB.id, DRB.role, DRB.deployment_id, D.workspace_id, U.id, U.username)
        .join(U, U.id == DRB.user_id)
        .join(D, D.id == DRB.deployment_id)
        .where(DRB.user_id.in_(ids), D.deleted_at.is_(None), access.visible_deployments(actor))
        .order_by(DRB.created_at, DRB.id)
    )
    for drid, role, dep_id, ws_id, uid, name in drows:
        found[uid].append(
            views.BindingView(
                id=drid,
                role=access.houston_role(Scope.DEPLOYMENT, role),
                user_id=uid,
                username=name,
                workspace_id=ws_id,
                deployment_id=dep_id,
            )
        )
    return found


def _members(s: Session, actor: Actor, users: list[models.User]) -> list[views.MemberView]:
    bindings = bindings_of(s, actor, (u.id for u in users))
    return [_member(u, bindings[u.id]) for u in users]


def _member(user: models.User, bindings: list[views.BindingView]) -> views.MemberView:
    base = views.UserView.of(user)
    return views.MemberView(**{f: getattr(base, f) for f in base.__dataclass_fields__}, role_bindings=tuple(bindings))


def _matches(user: models.User, *, user_id: str | None, email: str | None, full_name: str | None) -> bool:
    """Houston's ``UserSearch``: empty fields do not filter; email and full name match a part, ignoring case."""
    if user_id and user.id != user_id:
        return False
    if email and email.strip().lower() not in user.username.lower():
        return False
    return not (full_name and full_name.strip().lower() not in user.full_name.lower())


def member_users(platform: Platform, actor: Actor, user_ids: Iterable[str]) -> list[views.MemberView]:
    """Users by id with the bindings the caller may see (for ``User.roleBindings`` of any user object)."""
    ids = list(user_ids)
    with platform.db.read() as s:
        users = {u.id: u for u in s.scalars(sa.select(U).where(U.id.in_(ids)))}
        return _members(s, actor, [users[i] for i in ids if i in users])


# --- workspace users -----------------------------------------------------------------------------------------------


def _workspace_member_rows(s: Session, workspace_id: str) -> list[models.User]:
    return list(
        s.scalars(
            sa.select(U).join(RB, RB.user_id == U.id).where(RB.workspace_id == workspace_id).order_by(U.username, U.id)
        )
    )


def workspace_users(
    platform: Platform,
    actor: Actor,
    workspace_id: str,
    *,
    user_id: str | None = None,
    email: str | None = None,
    full_name: str | None = None,
) -> list[views.MemberView]:
    """Houston ``workspaceUsers``: the workspace's members by username, with their role bindings."""
    with platform.db.read() as s:
        access.require_role(s, actor, workspace_id, Role.VIEWER)
        users = [
            u
            for u in _workspace_member_rows(s, workspace_id)
            if _matches(u, user_id=user_id, email=email, full_name=full_name)
        ]
        return _members(s, actor, users)


def paginated_workspace_users(
    platform: Platform, actor: Actor, workspace_id: str, *, cursor: str | None = None, take: int | None = None
) -> list[views.MemberView]:
    """Houston ``paginatedWorkspaceUsers``: ``take`` members after the member ``cursor`` (before it when ``take``
    is negative, as the astro CLI asks for the previous page), in username order; no cursor starts at the first."""
    with platform.db.read() as s:
        access.require_role(s, actor, workspace_id, Role.VIEWER)
        users = _workspace_member_rows(s, workspace_id)
        if take is None or take == 0:
            return _members(s, actor, users)
        position = next((i for i, u in enumerate(users) if u.id == cursor), None) if cursor else None
        if take > 0:
            start = 0 if position is None else position + 1
            page = users[start : start + take]
        else:
            end = len(users) if position is None else position
            page = users[max(end + take, 0) : end]
        return _members(s, actor, page)


def workspace_user(platform: Platform, actor: Actor, workspace_id: str, *, email: str) -> views.MemberView:
    """Houston ``workspaceUser``: one member by email; NotFound when they are not a member."""
    with platform.db.read() as s:
        access.require_role(s, actor, workspace_id, Role.VIEWER)
        user = find_user(s, email)
        if _binding(s, workspace_id, user.id) is None:
            raise _not_member(user.username, workspace_id)
        return _members(s, actor, [user])[0]


def _binding(s: Session, workspace_id: str, user_id: str) -> models.RoleBinding | None:
    return s.scalar(sa.select(RB).where(RB.workspace_id == workspace_id, RB.user_id == user_id))


def _not_member(username: str, workspace_id: str) -> NotFound:
    return NotFound(f"user {access.shown(username)} is not a member of workspace {access.shown(workspace_id)}")


def _admin_count(s: Session, workspace_id: str) -> int:
    return int(
        s.scalar(
            sa.select(sa.func.count())
            .select_from(RB)
            .where(RB.workspace_id == workspace_id, RB.role == Role.ADMIN.value)
        )
        or 0
    )


def _record(
    s: Session, actor: Actor, action: str, *, user: models.User, workspace_id: str, at: datetime, **detail: str
) -> None:
    audit.record(
        s,
        actor=actor.username,
        action=action,
        target_kind="user",
        target_id=user.id,
        workspace_id=workspace_id,
        detail={"username": user.username, **detail},
        at=at,
    )


def add_workspace_user(platform: Platform, actor: Actor, workspace_id: str, *, email: str, role: str) -> str:
    """Houston ``workspaceAddUser``: an existing user joins with ``role`` (``WORKSPACE_*``). Needs workspace admin.

    Returns the Houston name of the role given. An existing member is a Conflict (change roles with
    ``set_workspace_user_role``)."""
    wanted = access.parse_role(role, Scope.WORKSPACE)
    now = platform.now()
    with platform.db.write() as s:
        access.require_role(s, actor, workspace_id, Role.ADMIN)
        user = find_user(s, email)
        existing = _binding(s, workspace_id, user.id)
        if existing is not None:
            raise Conflict(
                f"user {access.shown(user.username)} is already a member of this workspace as "
                f"{access.houston_role(Scope.WORKSPACE, existing.role)}; change the role with workspaceUpsertUserRole "
                "(astro workspace user update)"
            )
        s.add(RB(workspace_id=workspace_id, user_id=user.id, role=wanted.value, created_at=now))
        _record(s, actor, "workspace.member.add", user=user, workspace_id=workspace_id, at=now, role=wanted.value)
        return access.houston_role(Scope.WORKSPACE, wanted)


def remove_workspace_user(platform: Platform, actor: Actor, workspace_id: str, *, user_id: str) -> None:
    """Houston ``workspaceRemoveUser``: the member leaves, with their Deployment roles in this workspace.
    Needs workspace admin; the last admin cannot leave."""
    now = platform.now()
    with platform.db.write() as s:
        access.require_role(s, actor, workspace_id, Role.ADMIN)
        user = s.get(U, user_id) if user_id else None
        binding = _binding(s, workspace_id, user.id) if user else None
        if user is None or binding is None:
            raise _not_member(user_id, workspace_id)
        if binding.role == Role.ADMIN.value and _admin_count(s, workspace_id) == 1:
            raise Conflict(
                f"user {access.shown(user.username)} is the last admin of workspace {access.shown(workspace_id)}: "
                "make another member admin first"
            )
        s.delete(binding)
        s.execute(
            sa.delete(DRB)
            .where(
                DRB.user_id == user.id,
                DRB.deployment_id.in_(sa.select(D.id).where(D.workspace_id == workspace_id)),
            )
            .execution_options(synchronize_session=False)
        )
        _record(s, actor, "workspace.member.remove", user=user, workspace_id=workspace_id, at=now)


def set_workspace_user_role(platform: Platform, actor: Actor, workspace_id: str, *, email: str, role: str) -> str:
    """Houston ``workspaceUpsertUserRole``: change a member's role (or add the user with it). Needs workspace
    admin; the last admin cannot be demoted. Returns the Houston name of the new role."""
    wanted = access.parse_role(role, Scope.WORKSPACE)
    now = platform.now()
    with platform.db.write() as s:
        access.require_role(s, actor, workspace_id, Role.ADMIN)
        user = find_user(s, email)
        binding = _binding(s, workspace_id, user.id)
        if binding is None:
            s.add(RB(workspace_id=workspace_id, user_id=user.id, role=wanted.value, created_at=now))
        else:
            if binding.role == Role.ADMIN.value and wanted is not Role.ADMIN and _admin_count(s, workspace_id) == 1:
                raise Conflict(
                    f"user {access.shown(user.username)} is the last admin of workspace "
                    f"{access.shown(workspace_id)}: make another member admin first"
                )
            binding.role = wanted.value
        _record(s, actor, "workspace.member.set", user=user, workspace_id=workspace_id, at=now, role=wanted.value)
        return access.houston_role(Scope.WORKSPACE, wanted)


# --- Deployment users ----------------------------------------------------------------------------------------------


def deployment_users(
    platform: Platform,
    actor: Actor,
    deployment_id: str,
    *,
    user_id: str | None = None,
    email: str | None = None,
    full_name: str | None = None,
) -> list[views.MemberView]:
    """Houston ``deploymentUsers``: users holding a role on this Deployment, by username."""
    with platform.db.read() as s:
        access.live_deployment(s, actor, deployment_id, Role.VIEWER)
        users = [
            u
            for u in s.scalars(
                sa.select(U)
                .join(DRB, DRB.user_id == U.id)
                .where(DRB.deployment_id == deployment_id)
                .order_by(U.username, U.id)
            )
            if _matches(u, user_id=user_id, email=email, full_name=full_name)
        ]
        return _members(s, actor, users)


def _deployment_binding(s: Session, deployment_id: str, user_id: str) -> models.DeploymentRoleBinding | None:
    return s.scalar(sa.select(DRB).where(DRB.deployment_id == deployment_id, DRB.user_id == user_id))


def _user_for(s: Session, *, email: str, user_id: str | None) -> models.User:
    if user_id:
        user = s.get(U, user_id)
        if user is not None:
            return user
    return find_user(s, email)


def _binding_view(
    binding: models.DeploymentRoleBinding, user: models.User, dep: models.Deployment
) -> views.BindingView:
    return views.BindingView(
        id=binding.id,
        role=access.houston_role(Scope.DEPLOYMENT, binding.role),
        user_id=user.id,
        username=user.username,
        workspace_id=dep.workspace_id,
        deployment_id=dep.id,
    )


def _on_deployment(
    s: Session, actor: Actor, deployment_id: str, *, email: str, user_id: str | None
) -> tuple[models.Deployment, models.User, models.DeploymentRoleBinding | None]:
    """The Deployment (the caller must be its admin), the user and their own role binding there, if any."""
    dep = access.live_deployment(s, actor, deployment_id, Role.ADMIN)
    user = _user_for(s, email=email, user_id=user_id)
    return dep, user, _deployment_binding(s, dep.id, user.id)


def add_deployment_user(
    platform: Platform, actor: Actor, deployment_id: str, *, email: str, role: str, user_id: str | None = None
) -> views.BindingView:
    """Houston ``deploymentAddUserRole``: give a member of the workspace a role (``DEPLOYMENT_*``) on this
    Deployment. Needs Deployment admin (or workspace admin)."""
    wanted = access.parse_role(role, Scope.DEPLOYMENT)
    now = platform.now()
    with platform.db.write() as s:
        dep, user, existing = _on_deployment(s, actor, deployment_id, email=email, user_id=user_id)
        if (
            access.workspace_role(s, access.actor_for_user(s, user), dep.workspace_id) is None
            and not user.is_system_admin
        ):
            raise Conflict(
                f"user {access.shown(user.username)} is not a member of this Deployment's workspace: add them to the "
                "workspace first (astro workspace user add)"
            )
        if existing is not None:
            raise Conflict(
                f"user {access.shown(user.username)} already has "
                f"{access.houston_role(Scope.DEPLOYMENT, existing.role)} on this Deployment; change it with "
                "deploymentUpdateUserRole (astro deployment user update)"
            )
        binding = DRB(id=str(uuid.uuid4()), deployment_id=dep.id, user_id=user.id, role=wanted.value, created_at=now)
        s.add(binding)
        s.flush()
        _record_deployment(s, actor, "deployment.member.add", user=user, dep=dep, at=now, role=wanted.value)
        return _binding_view(binding, user, dep)


def update_deployment_user(
    platform: Platform, actor: Actor, deployment_id: str, *, email: str, role: str, user_id: str | None = None
) -> views.BindingView:
    """Houston ``deploymentUpdateUserRole``: change a user's role on this Deployment. Needs Deployment admin."""
    wanted = access.parse_role(role, Scope.DEPLOYMENT)
    now = platform.now()
    with platform.db.write() as s:
        dep, user, binding = _on_deployment(s, actor, deployment_id, email=email, user_id=user_id)
        if binding is None:
            raise NotFound(
                f"user {access.shown(user.username)} has no role on this Deployment; add one with "
                "deploymentAddUserRole (astro deployment user add)"
            )
        binding.role = wanted.value
        _record_deployment(s, actor, "deployment.member.set", user=user, dep=dep, at=now, role=wanted.value)
        return _binding_view(binding, user, dep)


def remove_deployment_user(
    platform: Platform, actor: Actor, deployment_id: str, *, email: str, user_id: str | None = None
) -> views.BindingView:
    """Houston ``deploymentRemoveUserRole``: the user's role on this Deployment, as it was before removal."""
    now = platform.now()
    with platform.db.write() as s:
        dep, user, binding = _on_deployment(s, actor, deployment_id, email=email, user_id=user_id)
        if binding is None:
            raise NotFound(f"user {access.shown(user.username)} has no role on this Deployment")
        view = _binding_view(binding, user, dep)
        s.delete(binding)
        _record_deployment(s, actor, "deployment.member.remove", user=user, dep=dep, at=now)
        return view


def _record_deployment(
    s: Session, actor: Actor, action: str, *, user: models.User, dep: models.Deployment, at: datetime, **detail: str
) -> None:
    audit.record(
        s,
        actor=actor.username,
        action=action,
        target_kind="user",
        target_id=user.id,
        workspace_id=dep.workspace_id,
        detail={"username": user.username, "deployment_id": dep.id, **detail},
        at=at,
    )


def workspace_bindings(platform: Platform, actor: Actor, workspace_id: str) -> list[views.BindingView]:
    """Houston ``Workspace.roleBindings``: the members' roles, then the workspace service accounts' (Houston's
    order: users by name, accounts oldest first). Needs workspace viewer."""
    with platform.db.read() as s:
        access.require_role(s, actor, workspace_id, Role.VIEWER)
        rows = s.execute(
            sa.select(RB.id, RB.role, U.id, U.username)
            .join(U, U.id == RB.user_id)
            .where(RB.workspace_id == workspace_id)
            .order_by(U.username)
        )
        found = [
            views.BindingView(
                id=str(rid),
                role=access.houston_role(Scope.WORKSPACE, role),
                user_id=uid,
                username=name,
                workspace_id=workspace_id,
            )
            for rid, role, uid, name in rows
        ]
        accounts = s.scalars(
            sa.select(models.ServiceAccount)
            .where(models.ServiceAccount.workspace_id == workspace_id)
            .order_by(models.ServiceAccount.created_at, models.ServiceAccount.id)
        )
        for row in accounts:
            view = service_accounts.view(row)
            found.append(
                views.BindingView(
                    id=view.id,
                    role=view.role,
                    service_account_id=view.id,
                    service_account_label=view.label,
                    workspace_id=workspace_id,
                    service_account=view,
                )
            )
        return found


def deployment_abilities(platform: Platform, actor: Actor, deployment_id: str) -> access.DeploymentAbilities:
    """What the caller may do with a live Deployment they can read (NotFound otherwise)."""
    with platform.db.read() as s:
        dep = access.live_deployment(s, actor, deployment_id, Role.VIEWER)
        return access.deployment_abilities(s, actor, dep)
