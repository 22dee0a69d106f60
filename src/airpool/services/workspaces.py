"""Workspaces and their members. Any signed-in user may create a workspace and becomes its admin."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from airpool.domain.errors import Conflict, InvalidInput, NotFound
from airpool.services import access, audit, views
from airpool.services.access import Actor, Role
from airpool.services.platform import Platform
from airpool.store import models

LABEL_MAX = 255


def _check_label(label: str) -> str:
    label = label.strip()
    if not label:
        raise InvalidInput("workspace label must not be empty")
    if len(label) > LABEL_MAX:
        raise InvalidInput(f"workspace label is {len(label)} characters long; at most {LABEL_MAX} are allowed")
    return label


def _parse_role(role: str) -> Role:
    try:
        return Role(role.lower())
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise InvalidInput(f"role {role!r} is not known; allowed: {allowed}") from None


def insert(s: Session, platform: Platform, *, owner: models.User, label: str, description: str) -> models.Workspace:
    """Inside a caller's transaction: a workspace with ``owner`` as its admin."""
    now = platform.now()
    ws = models.Workspace(
        id=str(uuid.uuid4()), label=_check_label(label), description=description, created_at=now, updated_at=now
    )
    s.add(ws)
    s.flush()
    s.add(models.RoleBinding(workspace_id=ws.id, user_id=owner.id, role=Role.ADMIN.value, created_at=now))
    return ws


def create(platform: Platform, actor: Actor, *, label: str, description: str = "") -> views.WorkspaceView:
    label = _check_label(label)
    with platform.db.write() as s:
        owner = s.get(models.User, actor.user_id)
        if owner is None:
            raise NotFound("your user no longer exists")
        ws = insert(s, platform, owner=owner, label=label, description=description)
        audit.record(
            s,
            actor=actor.username,
            action="workspace.create",
            target_kind="workspace",
            target_id=ws.id,
            workspace_id=ws.id,
            at=platform.now(),
        )
        return views.WorkspaceView.of(ws, Role.ADMIN.value)


def list_for(
    platform: Platform, actor: Actor, *, take: int | None = None, offset: int = 0
) -> list[views.WorkspaceView]:
    """Workspaces the caller belongs to (a system admin: all), oldest first. ``take`` None or < 0 means all."""
    with platform.db.read() as s:
        q = (
            sa.select(models.Workspace, models.RoleBinding.role)
            .outerjoin(
                models.RoleBinding,
                sa.and_(
                    models.RoleBinding.workspace_id == models.Workspace.id,
                    models.RoleBinding.user_id == actor.user_id,
                ),
            )
            .where(models.Workspace.id.in_(access.visible_workspace_ids(actor)))
            .order_by(models.Workspace.created_at, models.Workspace.id)
            .offset(max(offset, 0))
        )
        if take is not None and take >= 0:
            q = q.limit(take)
        return [views.WorkspaceView.of(ws, role) for ws, role in s.execute(q)]


def get(platform: Platform, actor: Actor, workspace_id: str) -> views.WorkspaceView:
    """Raises NotFound (naming only ``workspace_id``) when it does not exist or the caller has no role in it."""
    with platform.db.read() as s:
        ws = access.require_role(s, actor, workspace_id, Role.VIEWER)
        role = access.role_in(s, actor, workspace_id)
        return views.WorkspaceView.of(ws, role.value if role else None)


def members(platform: Platform, actor: Actor, workspace_id: str) -> list[views.RoleBindingView]:
    with platform.db.read() as s:
        access.require_role(s, actor, workspace_id, Role.VIEWER)
        rows = s.execute(
            sa.select(models.RoleBinding.role, models.User.id, models.User.username)
            .join(models.User, models.User.id == models.RoleBinding.user_id)
            .where(models.RoleBinding.workspace_id == workspace_id)
            .order_by(models.User.username)
        )
        return [
            views.RoleBindingView(workspace_id=workspace_id, user_id=uid, username=name, role=role)
            for role, uid, name in rows
        ]


def set_member(
    platform: Platform, actor: Actor, workspace_id: str, *, username: str, role: str
) -> views.RoleBindingView:
    """Add ``username`` to the workspace with ``role``, or change their role. Needs workspace admin."""
    wanted = _parse_role(role)
    with platform.db.write() as s:
        access.require_role(s, actor, workspace_id, Role.ADMIN)
        user = s.scalar(sa.select(models.User).where(models.User.username == username))
        if user is None:
            raise NotFound(f"user {access.shown(username)} not found")
        binding = s.scalar(
            sa.select(models.RoleBinding).where(
                models.RoleBinding.workspace_id == workspace_id, models.RoleBinding.user_id == user.id
            )
        )
        if binding is None:
            s.add(
                models.RoleBinding(
                    workspace_id=workspace_id, user_id=user.id, role=wanted.value, created_at=platform.now()
                )
            )
        else:
            binding.role = wanted.value
        audit.record(
            s,
            actor=actor.username,
            action="workspace.member.set",
            target_kind="user",
            target_id=user.id,
            workspace_id=workspace_id,
            detail={"role": wanted.value},
            at=platform.now(),
        )
        return views.RoleBindingView(
            workspace_id=workspace_id, user_id=user.id, username=user.username, role=wanted.value
        )


def remove_member(platform: Platform, actor: Actor, workspace_id: str, *, username: str) -> None:
    with platform.db.write() as s:
        access.require_role(s, actor, workspace_id, Role.ADMIN)
        user = s.scalar(sa.select(models.User).where(models.User.username == username))
        binding = (
            s.scalar(
                sa.select(models.RoleBinding).where(
                    models.RoleBinding.workspace_id == workspace_id, models.RoleBinding.user_id == user.id
                )
            )
            if user
            else None
        )
        if binding is None or user is None:
            raise NotFound(f"user {username!r} is not a member of workspace {workspace_id!r}")
        admins = s.scalar(
            sa.select(sa.func.count())
            .select_from(models.RoleBinding)
            .where(models.RoleBinding.workspace_id == workspace_id, models.RoleBinding.role == Role.ADMIN.value)
        )
        if binding.role == Role.ADMIN.value and admins == 1:
            raise Conflict(f"user {username!r} is the last admin of workspace {workspace_id!r}")
        s.delete(binding)
        audit.record(
            s,
            actor=actor.username,
            action="workspace.member.remove",
            target_kind="user",
            target_id=user.id,
            workspace_id=workspace_id,
            at=platform.now(),
        )
