"""Service accounts: machine identities with one role in one workspace or one Deployment (Houston's
``createWorkspaceServiceAccount`` / ``createDeploymentServiceAccount`` and friends).

- The API key (``apsa_`` + 43 random characters) is returned once, at creation; only its SHA-256 is stored
  (256 bits of entropy: a slow hash adds nothing), so lists never show it again.
- Sent as the ``authorization`` header (raw or ``Bearer``), the key authenticates as an ``Actor`` carrying a
  ``ServiceAccountScope``: ``services.access`` then grants exactly the account's role in exactly its scope.
- Deleting the account (or its workspace or Deployment) ends the key at once: every request looks it up.

Managing a workspace's accounts needs workspace admin; a Deployment's, Deployment admin (or workspace admin).
Listing needs viewer. Both roles must be of the scope's kind (``WORKSPACE_*`` or ``DEPLOYMENT_*``).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from airpool.domain.errors import InvalidInput, NotFound, Unauthenticated
from airpool.services import access, audit, views
from airpool.services.access import Actor, Role, Scope
from airpool.services.platform import Platform
from airpool.store import models

KEY_PREFIX = "apsa_"
LABEL_MAX = 255
#: ``last_used_at`` is written at most this often per account (a busy automation must not write per request).
LAST_USED_RESOLUTION = timedelta(minutes=1)
SA = models.ServiceAccount


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def view(row: models.ServiceAccount, *, key: str | None = None) -> views.ServiceAccountView:
    scope = Scope.DEPLOYMENT if row.deployment_id else Scope.WORKSPACE
    return views.ServiceAccountView(
        id=row.id,
        label=row.label,
        category=row.category,
        role=access.houston_role(scope, row.role),
        workspace_id=row.workspace_id,
        deployment_id=row.deployment_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_used_at=row.last_used_at,
        api_key=key,
    )


def _check_label(label: str) -> str:
    label = (label or "").strip()
    if not label:
        raise InvalidInput("service account label must not be empty")
    if len(label) > LABEL_MAX:
        raise InvalidInput(f"service account label is {len(label)} characters long; at most {LABEL_MAX} are allowed")
    return label


def _owner(s: Session, actor: Actor, *, workspace_id: str | None, deployment_id: str | None, minimum: Role) -> str:
    """The workspace id of the account's owner (the workspace, or the Deployment's), once the caller holds
    ``minimum`` there."""
    if workspace_id is not None:
        access.require_role(s, actor, workspace_id, minimum)
        return workspace_id
    return access.live_deployment(s, actor, deployment_id or "", minimum).workspace_id


def create(
    platform: Platform,
    actor: Actor,
    *,
    label: str,
    role: str,
    category: str | None = None,
    workspace_id: str | None = None,
    deployment_id: str | None = None,
) -> views.ServiceAccountView:
    """A new account in a workspace or a Deployment (exactly one); the view carries ``api_key``, shown once."""
    if (workspace_id is None) == (deployment_id is None):
        raise InvalidInput("a service account belongs to exactly one workspace or one Deployment")
    scope = Scope.WORKSPACE if workspace_id else Scope.DEPLOYMENT
    wanted = access.parse_role(role, scope)
    label = _check_label(label)
    category = (category or "").strip()
    if len(category) > LABEL_MAX:
        raise InvalidInput(f"category is {len(category)} characters long; at most {LABEL_MAX} are allowed")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    now = platform.now()
    with platform.db.write() as s:
        ws_id = _owner(s, actor, workspace_id=workspace_id, deployment_id=deployment_id, minimum=Role.ADMIN)
        row = SA(
            id=str(uuid.uuid4()),
            label=label,
            category=category,
            workspace_id=workspace_id,
            deployment_id=deployment_id,
            role=wanted.value,
            key_hash=digest(key),
            created_by=actor.user_id,
            created_at=now,
            updated_at=now,
        )
        s.add(row)
        s.flush()
        audit.record(
            s,
            actor=actor.username,
            action="service_account.create",
            target_kind="service_account",
            target_id=row.id,
            workspace_id=ws_id,
            detail={"label": label, "role": access.houston_role(scope, wanted), "deployment_id": deployment_id or ""},
            at=now,
        )
        return view(row, key=key)


def list_for(
    platform: Platform, actor: Actor, *, workspace_id: str | None = None, deployment_id: str | None = None
) -> list[views.ServiceAccountView]:
    """The accounts of a workspace (not its Deployments') or of a Deployment, oldest first. Needs viewer."""
    with platform.db.read() as s:
        _owner(s, actor, workspace_id=workspace_id, deployment_id=deployment_id, minimum=Role.VIEWER)
        where = SA.workspace_id == workspace_id if workspace_id is not None else SA.deployment_id == deployment_id
        return [view(r) for r in s.scalars(sa.select(SA).where(where).order_by(SA.created_at, SA.id))]


def delete(
    platform: Platform,
    actor: Actor,
    service_account_id: str,
    *,
    workspace_id: str | None = None,
    deployment_id: str | None = None,
) -> views.ServiceAccountView:
    """Delete an account of the given workspace or Deployment; its key stops working at once."""
    now = platform.now()
    with platform.db.write() as s:
        ws_id = _owner(s, actor, workspace_id=workspace_id, deployment_id=deployment_id, minimum=Role.ADMIN)
        row = s.get(SA, service_account_id)
        if row is None or (row.workspace_id, row.deployment_id) != (workspace_id, deployment_id):
            where = (
                f"workspace {access.shown(workspace_id)}"
                if workspace_id
                else f"deployment {access.shown(deployment_id or '')}"
            )
            raise NotFound(f"service account {access.shown(service_account_id)} not found in {where}")
        found = view(row)
        s.delete(row)
        audit.record(
            s,
            actor=actor.username,
            action="service_account.delete",
            target_kind="service_account",
            target_id=found.id,
            workspace_id=ws_id,
            detail={"label": found.label},
            at=now,
        )
        return found


def authenticate(platform: Platform, key: str) -> Actor:
    """The ``Actor`` of a service account key; Unauthenticated for an unknown (or deleted) account's key."""
    now = platform.now()
    with platform.db.read() as s:
        row = s.scalar(sa.select(SA).where(SA.key_hash == digest(key)))
        if row is None:
            raise Unauthenticated("unknown service account key (was the service account deleted?)")
        if row.deployment_id is not None:
            dep = s.get(models.Deployment, row.deployment_id)
            if dep is None or dep.deleted_at is not None:
                raise Unauthenticated("the Deployment of this service account was deleted")
        scope = access.ServiceAccountScope(
            id=row.id,
            label=row.label,
            role=Role(row.role),
            workspace_id=row.workspace_id,
            deployment_id=row.deployment_id,
        )
        stale = row.last_used_at is None or row.last_used_at <= now - LAST_USED_RESOLUTION
    if stale:
        with platform.db.write() as s:
            s.execute(sa.update(SA).where(SA.id == scope.id).values(last_used_at=now, updated_at=SA.updated_at))
    return Actor(user_id=scope.id, username=f"service-account:{scope.label}", service_account=scope)
