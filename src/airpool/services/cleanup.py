"""Final step of soft deletes: after ``releases_at``, retained namespaces return to the pool and the kept
Deployment rows are removed (commander gets a ``purge`` job for the kept data).

Runs from ``airpool cleanup`` and on the server's schedule, possibly on several replicas at the same moment:
each namespace moves with its own compare-and-set (``pool.finish_retention``), so exactly one run acts on it and
the others skip it. Each item is its own small transaction, so one bad row does not block the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from airpool.domain.pool import NamespaceState
from airpool.services import audit, commander_jobs, pool
from airpool.services.platform import Platform
from airpool.store import models, sql

D = models.Deployment
P = models.PoolNamespace


@dataclass(frozen=True)
class CleanupReport:
    dry_run: bool
    #: Pool namespaces returned to the pool (or retired) by this run.
    released: tuple[str, ...]
    #: Soft-deleted Deployments removed for good by this run.
    finalized: tuple[str, ...]


def finalize_deployment(s: Session, *, deployment_id: str | None, at: datetime) -> bool:
    """Delete a soft-deleted Deployment row and queue the purge of its data; True when this caller did it."""
    if deployment_id is None:
        return False
    dep = s.get(D, deployment_id)
    if dep is None or dep.deleted_at is None:
        return False
    payload = {"release_name": dep.release_name, "workspace_id": dep.workspace_id}
    result = s.execute(
        sa.delete(D)
        .where(D.id == deployment_id, D.deleted_at.is_not(None))
        .execution_options(synchronize_session=False)
    )
    if sql.rowcount(result) != 1:
        return False
    s.expunge(dep)
    commander_jobs.enqueue(
        s,
        kind=commander_jobs.JobKind.PURGE,
        at=at,
        deployment_id=deployment_id,
        namespace=dep.namespace,
        payload=payload,
    )
    audit.record(
        s,
        actor=audit.SYSTEM,
        action="deployment.finalize",
        target_kind="deployment",
        target_id=deployment_id,
        workspace_id=dep.workspace_id,
        detail=payload,
        at=at,
    )
    return True


def due(platform: Platform) -> tuple[list[str], list[str]]:
    """(retained namespaces past releases_at, soft-deleted non-pool Deployments past releases_at)."""
    now = platform.now()
    with platform.db.read() as s:
        names = list(
            s.scalars(
                sa.select(P.name)
                .where(P.state == NamespaceState.RETAINED.value, P.releases_at <= now)
                .order_by(P.releases_at, P.name)
            )
        )
        deps = list(
            s.scalars(
                sa.select(D.id)
                .where(
                    D.deleted_at.is_not(None),
                    D.hard_delete.is_(False),
                    D.releases_at <= now,
                    D.active_namespace.is_(None),
                )
                .order_by(D.releases_at, D.id)
            )
        )
    return names, deps


def run(platform: Platform, *, dry_run: bool = False) -> CleanupReport:
    names, dep_ids = due(platform)
    if dry_run:
        return CleanupReport(dry_run=True, released=tuple(names), finalized=tuple(dep_ids))
    released: list[str] = []
    finalized: list[str] = []
    for name in names:
        now = platform.now()
        with platform.db.write() as s:
            holder = pool.finish_retention(s, name=name, at=now, due_before=now)
            if holder is None:
                continue  # another replica (or an admin) got there first
            released.append(name)
            if finalize_deployment(s, deployment_id=holder, at=now):
                finalized.append(holder)
            audit.record(
                s,
                actor=audit.SYSTEM,
                action="pool.release",
                target_kind="namespace",
                target_id=name,
                detail={"deployment_id": holder},
                at=now,
            )
    for dep_id in dep_ids:
        now = platform.now()
        with platform.db.write() as s:
            dep = s.get(D, dep_id)
            if dep is None or dep.releases_at is None or dep.releases_at > now or dep.active_namespace is not None:
                continue
            if finalize_deployment(s, deployment_id=dep_id, at=now):
                finalized.append(dep_id)
    return CleanupReport(dry_run=False, released=tuple(released), finalized=tuple(finalized))
