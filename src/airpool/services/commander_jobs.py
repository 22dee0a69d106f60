"""The commander job queue: how the server asks commander to change the cluster, and how commander answers.

Jobs are rows. The server enqueues them in the same transaction as the change that needs them (a Deployment
insert queues ``install``), so a job exists if and only if its change committed.

A worker calls ``lease`` to take the oldest runnable job for ``lease_seconds``; it renews with ``heartbeat`` and
ends with ``complete`` or ``fail``. A lease that expires (a dead worker) makes the job runnable again for any
worker. Leasing is a ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL (concurrent workers never wait on each
other) and a compare-and-set UPDATE on SQLite (writers are serialised there anyway). Jobs of one Deployment run
in order: a job waits while an older job of the same Deployment is queued or running.

``fail(temporary=True)`` retries after an exponential backoff (``BACKOFF_BASE`` * 2^(attempt-1), capped) until
``max_attempts``; a permanent failure or the last attempt ends the job and puts the error on the Deployment.

Completing an ``uninstall`` is what moves a pool namespace on (releasing -> available / retained / retired):
commander calls ``complete`` only once the namespace is verified free of the Deployment's objects.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from airpool.domain.deployments import DeploymentStatus
from airpool.domain.errors import Conflict, InvalidInput, NotFound
from airpool.services import access, audit, metrics, pool, views
from airpool.services.access import Actor
from airpool.services.platform import Platform
from airpool.store import models, sql

BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_MAX = timedelta(minutes=10)
DEFAULT_LEASE_SECONDS = 60
DEFAULT_MAX_ATTEMPTS = 5


class JobKind(StrEnum):
    INSTALL = "install"
    UPGRADE = "upgrade"
    #: Remove the Deployment's objects from its namespace (and the namespace itself without a pool).
    UNINSTALL = "uninstall"
    #: Final removal of a soft-deleted Deployment's kept data (its database), after the retention period.
    PURGE = "purge"
    #: Check commander's access to a pool namespace; report with ``pool.record_health``.
    HEALTH = "health"


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


J = models.CommanderJob


def enqueue(
    s: Session,
    *,
    kind: JobKind,
    at: datetime,
    deployment_id: str | None = None,
    namespace: str | None = None,
    payload: dict[str, Any] | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> models.CommanderJob:
    """Inside the caller's transaction."""
    job = models.CommanderJob(
        kind=kind.value,
        deployment_id=deployment_id,
        namespace=namespace,
        payload=payload or {},
        state=JobState.QUEUED.value,
        attempts=0,
        max_attempts=max_attempts,
        run_after=at,
        created_at=at,
        updated_at=at,
        last_error="",
    )
    s.add(job)
    return job


def cancel_queued(s: Session, *, deployment_id: str, kinds: tuple[JobKind, ...], at: datetime) -> int:
    result = s.execute(
        sa.update(J)
        .where(J.deployment_id == deployment_id, J.state == JobState.QUEUED.value, J.kind.in_([k.value for k in kinds]))
        .values(state=JobState.CANCELLED.value, finished_at=at, updated_at=at)
    )
    return sql.rowcount(result)


def request(
    platform: Platform, *, kind: JobKind, namespace: str | None = None, deployment_id: str | None = None
) -> views.JobView:
    """Queue a job outside any other change (e.g. a health check of one namespace)."""
    now = platform.now()
    with platform.db.write() as s:
        job = enqueue(s, kind=kind, at=now, namespace=namespace, deployment_id=deployment_id)
        s.flush()
        return views.JobView.of(job)


def _runnable(now: datetime) -> sa.ColumnElement[bool]:
    earlier = aliased(models.CommanderJob)
    return sa.and_(
        sa.or_(
            sa.and_(J.state == JobState.QUEUED.value, J.run_after <= now),
            sa.and_(J.state == JobState.RUNNING.value, J.lease_expires_at < now),
        ),
        ~sa.exists().where(
            J.deployment_id.is_not(None),
            earlier.deployment_id == J.deployment_id,
            earlier.id < J.id,
            earlier.state.in_([JobState.QUEUED.value, JobState.RUNNING.value]),
        ),
    )


def lease(
    platform: Platform,
    *,
    worker_id: str,
    lease_seconds: int = DEFAULT_LEASE_SECONDS,
    kinds: tuple[JobKind, ...] | None = None,
) -> views.LeasedJob | None:
    """Take the oldest runnable job (or one whose lease expired) for ``lease_seconds``; None when there is none."""
    if lease_seconds < 1:
        raise InvalidInput(f"lease_seconds must be at least 1 (got {lease_seconds})")
    now = platform.now()
    until = now + timedelta(seconds=lease_seconds)
    kind_filter = J.kind.in_([k.value for k in kinds]) if kinds else sa.true()
    with platform.db.read() as s:  # idle polling stays a read: no write lock taken while the queue is empty
        if s.scalar(sa.select(J.id).where(_runnable(now), kind_filter).limit(1)) is None:
            return None
    for _ in range(10):
        with platform.db.write() as s:
            q = sa.select(J.id).where(_runnable(now), kind_filter).order_by(J.id).limit(1)
            if platform.db.is_postgres:
                q = q.with_for_update(skip_locked=True, of=J)
            job_id = s.scalar(q)
            if job_id is None:
                return None
            result = s.execute(
                sa.update(J)
                .where(J.id == job_id, _runnable(now))
                .values(
                    state=JobState.RUNNING.value,
                    lease_owner=worker_id,
                    lease_expires_at=until,
                    attempts=J.attempts + 1,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if sql.rowcount(result) != 1:
                continue  # somebody else took it between our read and our write
            job = s.get_one(J, job_id, populate_existing=True)
            dep = s.get(models.Deployment, job.deployment_id) if job.deployment_id else None
            return views.LeasedJob(job=views.JobView.of(job), deployment=views.DeploymentView.of(dep) if dep else None)
    return None


def _owned(s: Session, job_id: int, worker_id: str, now: datetime) -> models.CommanderJob:
    job = s.get(J, job_id, with_for_update=True)
    if job is None:
        raise NotFound(f"commander job {job_id} not found")
    if job.state != JobState.RUNNING.value or job.lease_owner != worker_id:
        raise Conflict(f"commander job {job_id} is not leased by {worker_id!r} (state {job.state})")
    if job.lease_expires_at is not None and job.lease_expires_at < now:
        raise Conflict(f"the lease of commander job {job_id} held by {worker_id!r} expired")
    return job


def heartbeat(platform: Platform, job_id: int, *, worker_id: str, lease_seconds: int = DEFAULT_LEASE_SECONDS) -> bool:
    """Extend the lease; False when the worker lost it (expired and taken over, or finished): it must stop."""
    now = platform.now()
    with platform.db.write() as s:
        result = s.execute(
            sa.update(J)
            .where(
                J.id == job_id,
                J.state == JobState.RUNNING.value,
                J.lease_owner == worker_id,
                J.lease_expires_at >= now,
            )
            .values(lease_expires_at=now + timedelta(seconds=lease_seconds), updated_at=now)
        )
        return sql.rowcount(result) == 1


def complete(platform: Platform, job_id: int, *, worker_id: str, message: str = "") -> views.JobView:
    """The job succeeded. For ``uninstall`` this releases the namespace (see the module docstring)."""
    now = platform.now()
    with platform.db.write() as s:
        job = _owned(s, job_id, worker_id, now)
        job.state = JobState.DONE.value
        job.finished_at = now
        job.updated_at = now
        job.lease_expires_at = None
        dep = s.get(models.Deployment, job.deployment_id, with_for_update=True) if job.deployment_id else None
        if dep is not None:
            if job.kind == JobKind.UNINSTALL:
                _uninstalled(s, platform, dep, now)
            elif message and job.kind in (JobKind.INSTALL, JobKind.UPGRADE):
                dep.status_message = message
                dep.updated_at = now
        audit.record(
            s,
            actor=audit.SYSTEM,
            action=f"job.{job.kind}.done",
            target_kind="job",
            target_id=str(job.id),
            detail={"deployment_id": job.deployment_id, "worker": worker_id},
            at=now,
        )
        return views.JobView.of(job)


def _uninstalled(s: Session, platform: Platform, dep: models.Deployment, now: datetime) -> None:
    """The namespace is clean of ``dep``: hand it on, and drop or keep the Deployment row."""
    if dep.deleted_at is not None:
        metrics.RELEASE_DURATION.observe(max((now - dep.deleted_at).total_seconds(), 0.0))
    hard = bool(dep.hard_delete)
    pool.after_uninstall(s, platform, dep=dep, hard=hard, now=now)
    if hard:
        s.delete(dep)
    else:
        dep.status = DeploymentStatus.DELETED.value
        dep.status_message = "deleted; data kept until releases_at"
        dep.updated_at = now
        if not pool.is_pool_namespace(s, dep.namespace):
            dep.active_namespace = None  # the namespace itself is gone (no pool): its name is free again


def _backoff(attempts: int) -> timedelta:
    delay: timedelta = BACKOFF_BASE * (2 ** max(attempts - 1, 0))
    return min(delay, BACKOFF_MAX)


def fail(platform: Platform, job_id: int, *, worker_id: str, error: str, temporary: bool) -> views.JobView:
    """The job failed. Temporary failures retry with backoff; the last or a permanent one shows on the Deployment."""
    now = platform.now()
    with platform.db.write() as s:
        job = _owned(s, job_id, worker_id, now)
        job.last_error = error
        job.updated_at = now
        job.lease_expires_at = None
        job.lease_owner = None
        if temporary and job.attempts < job.max_attempts:
            job.state = JobState.QUEUED.value
            job.run_after = now + _backoff(job.attempts)
            return views.JobView.of(job)
        job.state = JobState.FAILED.value
        job.finished_at = now
        dep = s.get(models.Deployment, job.deployment_id) if job.deployment_id else None
        tries = f" after {job.attempts} attempts" if job.attempts > 1 else ""
        final = f"{job.kind} failed{tries}: {error}"
        if dep is not None:
            dep.status_message = final
            if job.kind in (JobKind.INSTALL, JobKind.UPGRADE):
                dep.status = DeploymentStatus.FAILED.value
            dep.updated_at = now
        if job.kind == JobKind.UNINSTALL and job.namespace:
            # the Deployment is out of users' sight now: show why its namespace is stuck in the admin's pool view
            pool.note(s, job.namespace, reason=final)
        audit.record(
            s,
            actor=audit.SYSTEM,
            action=f"job.{job.kind}.failed",
            target_kind="job",
            target_id=str(job.id),
            workspace_id=dep.workspace_id if dep else None,
            detail={"deployment_id": job.deployment_id, "error": error},
            at=now,
        )
        return views.JobView.of(job)


def report_status(
    platform: Platform,
    deployment_id: str,
    *,
    status: DeploymentStatus,
    message: str = "",
    urls: list[views.DeploymentUrl] | None = None,
) -> None:
    """Commander's latest observation of a Deployment (deploying / healthy / unhealthy ...).

    Ignored for a Deployment being deleted (its delete status wins) or already gone."""
    now = platform.now()
    with platform.db.write() as s:
        dep = s.get(models.Deployment, deployment_id)
        if dep is None or dep.deleted_at is not None:
            return
        dep.status = status.value
        dep.status_message = message
        if urls is not None:
            dep.urls = [{"type": u.type, "url": u.url} for u in urls]
        if status is DeploymentStatus.HEALTHY and dep.healthy_at is None:
            dep.healthy_at = now
            metrics.CLAIM_TO_HEALTHY.observe(max((now - dep.created_at).total_seconds(), 0.0))
        dep.updated_at = now


def retry(platform: Platform, actor: Actor, job_id: int) -> views.JobView:
    """A system admin re-queues a failed job (e.g. after fixing commander's RBAC), with fresh attempts."""
    access.require_system_admin(actor)
    now = platform.now()
    with platform.db.write() as s:
        job = s.get(J, job_id, with_for_update=True)
        if job is None:
            raise NotFound(f"commander job {job_id} not found")
        if job.state != JobState.FAILED.value:
            raise Conflict(f"commander job {job_id} is {job.state}; only a failed job can be retried")
        job.state = JobState.QUEUED.value
        job.attempts = 0
        job.run_after = now
        job.finished_at = None
        job.updated_at = now
        audit.record(
            s,
            actor=actor.username,
            action=f"job.{job.kind}.retry",
            target_kind="job",
            target_id=str(job.id),
            detail={"deployment_id": job.deployment_id},
            at=now,
        )
        return views.JobView.of(job)


def failed(platform: Platform, actor: Actor, *, limit: int = 100) -> list[views.JobView]:
    """Failed jobs, newest first (system admins: what needs attention)."""
    access.require_system_admin(actor)
    with platform.db.read() as s:
        q = sa.select(J).where(J.state == JobState.FAILED.value).order_by(J.id.desc()).limit(max(1, min(limit, 1000)))
        return [views.JobView.of(j) for j in s.scalars(q)]


def get(platform: Platform, job_id: int) -> views.JobView:
    with platform.db.read() as s:
        job = s.get(J, job_id)
        if job is None:
            raise NotFound(f"commander job {job_id} not found")
        return views.JobView.of(job)


def for_deployment(platform: Platform, deployment_id: str) -> list[views.JobView]:
    with platform.db.read() as s:
        return [
            views.JobView.of(j) for j in s.scalars(sa.select(J).where(J.deployment_id == deployment_id).order_by(J.id))
        ]
