"""Workspaces and their members. Any signed-in user may create a workspace and becomes its admin."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from airpool.domain.errors import Conflict, InvalidInput, NotFound
from airpool.services import access, audit, people, views
from airpool.services.access import Actor, Role
from airpool.services.platform import Platform
from airpool.store import models

LABEL_MAX = 255
DESCRIPTION_MAX = 10_000
#: What ``updateWorkspace``'s payload may change.
UPDATABLE = frozenset({"label", "description"})


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
    access.require_user(actor)
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


def ensure_admin_remains(s: Session, workspace_id: str, *, losing: models.RoleBinding, username: str) -> None:
    """Refuse (``Conflict``) a change that takes ``losing`` (a binding about to be demoted or removed) away from
    the workspace's admins when it is the last one: no operation leaves a workspace without an admin. The admin
    rows are locked (PostgreSQL), so two admins demoting each other at once cannot both pass."""
    if losing.role != Role.ADMIN.value:
        return
    admins = s.scalars(
        sa.select(models.RoleBinding.id)
        .where(models.RoleBinding.workspace_id == workspace_id, models.RoleBinding.role == Role.ADMIN.value)
        .with_for_update()
    ).all()
    if len(admins) <= 1:
        raise Conflict(
            f"user {access.shown(username)} is the last admin of workspace {access.shown(workspace_id)}: make "
            "another member admin first, then change or remove this one"
        )


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
            if wanted is not Role.ADMIN:
                ensure_admin_remains(s, workspace_id, losing=binding, username=user.username)
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
    """Remove a member by username (``people.remove_workspace_user`` by id). Needs workspace admin."""
    with platform.db.read() as s:
        access.require_role(s, actor, workspace_id, Role.ADMIN)
        user_id = s.scalar(sa.select(models.User.id).where(models.User.username == username))
    if user_id is None:
        raise NotFound(f"user {access.shown(username)} is not a member of workspace {access.shown(workspace_id)}")
    people.remove_workspace_user(platform, actor, workspace_id, user_id=user_id)


def update(platform: Platform, actor: Actor, workspace_id: str, payload: Mapping[str, Any]) -> views.WorkspaceView:
    """Houston ``updateWorkspace``: ``payload`` may change ``label`` and ``description``. Needs workspace admin."""
    if not isinstance(payload, Mapping):
        raise InvalidInput('payload must be an object such as {"label": "new name", "description": "..."}')
    unknown = sorted(str(k) for k in payload if k not in UPDATABLE)
    if unknown:
        raise InvalidInput(
            f"payload key {access.shown(unknown[0], 40)} cannot be changed; allowed: {', '.join(sorted(UPDATABLE))}"
        )
    changes: dict[str, str] = {}
    for key in UPDATABLE:
        if key in payload:
            value = payload[key]
            if not isinstance(value, str):
                raise InvalidInput(f"payload.{key} must be a string")
            changes[key] = value
    if "label" in changes:
        changes["label"] = _check_label(changes["label"])
    if len(changes.get("description", "")) > DESCRIPTION_MAX:
        raise InvalidInput(
            f"payload.description is {len(changes['description'])} characters long; at most {DESCRIPTION_MAX} are "
            "allowed"
        )
    now = platform.now()
    with platform.db.write() as s:
        ws = access.require_role(s, actor, workspace_id, Role.ADMIN)
        for key, value in changes.items():
            setattr(ws, key, value)
        if changes:
            ws.updated_at = now
            audit.record(
                s,
                actor=actor.username,
                action="workspace.update",
                target_kind="workspace",
                target_id=ws.id,
                workspace_id=ws.id,
                detail={k: ("changed" if k == "description" else v) for k, v in changes.items()},
                at=now,
            )
        role = access.workspace_role(s, actor, workspace_id)
        return views.WorkspaceView.of(ws, role.value if role else None)


def delete(platform: Platform, actor: Actor, workspace_id: str) -> views.WorkspaceView:
    """Houston ``deleteWorkspace``. Needs workspace admin; refused while any Deployment (live, or deleted but not
    yet cleaned up) still belongs to it. Members, teams' roles and service accounts go with it."""
    now = platform.now()
    D = models.Deployment
    with platform.db.write() as s:
        ws = access.require_role(s, actor, workspace_id, Role.ADMIN)
        live = s.scalar(
            sa.select(sa.func.count()).select_from(D).where(D.workspace_id == ws.id, D.deleted_at.is_(None))
        )
        gone = s.scalar(
            sa.select(sa.func.count()).select_from(D).where(D.workspace_id == ws.id, D.deleted_at.is_not(None))
        )
        if live:
            raise Conflict(
                f"workspace {access.shown(ws.label)} still has {live} Deployment{'s' if live != 1 else ''}: delete "
                f"{'them' if live != 1 else 'it'} first (astro deployment delete)"
            )
        if gone:
            raise Conflict(
                f"workspace {access.shown(ws.label)} still has {gone} deleted Deployment{'s' if gone != 1 else ''} "
                "not cleaned up yet (being uninstalled, or retained until the retention period ends): delete the "
                "workspace once they are gone (airpool cleanup; an admin may release retained namespaces early)"
            )
        view = views.WorkspaceView.of(ws, None)
        s.execute(
            sa.delete(models.TeamRoleBinding)
            .where(
                models.TeamRoleBinding.scope == access.Scope.WORKSPACE.value,
                models.TeamRoleBinding.scope_id == ws.id,
            )
            .execution_options(synchronize_session=False)
        )
        s.delete(ws)
        audit.record(
            s,
            actor=actor.username,
            action="workspace.delete",
            target_kind="workspace",
            target_id=view.id,
            workspace_id=view.id,
            detail={"label": view.label},
            at=now,
        )
        return view
