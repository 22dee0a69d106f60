"""The commander job queue: how the server asks commander to change the cluster, and how commander answers.

Jobs are rows. The server enqueues them in the same transaction as the change that needs them (a Deployment
insert queues ``install``), so a job exists if and only if its change committed.

A worker calls ``lease`` to take the oldest runnable job for ``lease_seconds``; it renews with ``heartbeat`` and
ends with ``complete`` or ``fail``. A lease that expires (a dead worker) makes the job runnable again for any
worker. Leasing is a ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL (concurrent workers never wait on each
other) and a compare-and-set UPDATE on SQLite (writers are serialised there anyway). Jobs of one Deployment run
in order: a job waits while an older job of the same Deployment is queued or running.

``fail(temporary=True)`` retries after an exponential backoff (``BACKOFF_BASE`` * 2^(attempt-1), capped at
``BACKOFF_MAX``) for as long as it takes, with the reason and the next try on the Deployment's message: a
temporary failure (an unreachable or warming-up API server) never ends a job. A permanent one (a permission the
Role truly lacks) ends the job ``failed`` with the error on the Deployment.

Convergence is level-triggered (DESIGN.md, Commander): the Deployment rows are the desired state, a job only
the wake-up. ``requeue_owed`` (run by commander's periodic pass) finds work that is still owed with no job
working on it -- a deleted Deployment whose uninstall failed or was lost, a live one whose install failed -- and
queues it again, so a failure waiting for an admin's fix retries by itself once the fix lands. ``retry`` is the
same thing on an admin's (or an editor's) request, at once.

Completing an ``uninstall`` is what moves a pool namespace on (releasing -> available / retained / retired):
commander calls ``complete`` only once the namespace is verified free of the Deployment's objects.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from airpool.domain.deployments import DeploymentStatus
from airpool.domain.errors import Conflict, InvalidInput, NotFound
from airpool.services import access, audit, metrics, pool, views
from airpool.services.access import Actor
from airpool.services.platform import Platform
from airpool.store import engine, models, sql

BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_MAX = timedelta(minutes=5)
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
    """Inside the caller's transaction; a worker in this process is woken when it commits."""
    engine.wake_after_commit(s)
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


def uninstall_payload(dep: models.Deployment) -> dict[str, Any]:
    """What an ``uninstall`` job carries: the Deployment's own delete mode and DAG settings (not today's
    configuration), so commander removes exactly what this Deployment had."""
    dags = {"dag_deployment": dep.dag_deployment} if dep.dag_deployment else {}
    return {"hard": bool(dep.hard_delete), "release_name": dep.release_name, **dags}


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


def complete(
    platform: Platform, job_id: int, *, worker_id: str, message: str = "", not_offerable: str | None = None
) -> views.JobView:
    """The job succeeded. For ``uninstall`` this releases the namespace (see the module docstring);
    ``not_offerable`` is why commander's check right before offering it found it unfit (``pool.after_uninstall``)."""
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
                _uninstalled(s, platform, dep, now, not_offerable=not_offerable)
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


def _uninstalled(
    s: Session, platform: Platform, dep: models.Deployment, now: datetime, *, not_offerable: str | None = None
) -> None:
    """The namespace is clean of ``dep``: hand it on, and drop or keep the Deployment row."""
    if dep.deleted_at is not None:
        metrics.RELEASE_DURATION.observe(max((now - dep.deleted_at).total_seconds(), 0.0))
    hard = bool(dep.hard_delete)
    pool.after_uninstall(s, platform, dep=dep, hard=hard, now=now, not_offerable=not_offerable)
    if hard:
        s.delete(dep)
    else:
        dep.status = DeploymentStatus.DELETED.value
        kept = f" until {_when(dep.releases_at)}" if dep.releases_at is not None else ""
        dep.status_message = f"deleted; data kept{kept}"
        dep.updated_at = now
        if not pool.is_pool_namespace(s, dep.namespace):
            dep.active_namespace = None  # the namespace itself is gone (no pool): its name is free again


def _backoff(attempts: int) -> timedelta:
    delay: timedelta = BACKOFF_BASE * (2 ** max(attempts - 1, 0))
    return min(delay, BACKOFF_MAX)


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fail(platform: Platform, job_id: int, *, worker_id: str, error: str, temporary: bool) -> views.JobView:
    """The job failed. Temporary failures retry with backoff, forever, and say so on the Deployment; a permanent
    one ends the job ``failed`` with the error on the Deployment (``requeue_owed`` tries it again later)."""
    now = platform.now()
    with platform.db.write() as s:
        job = _owned(s, job_id, worker_id, now)
        job.last_error = error
        job.updated_at = now
        job.lease_expires_at = None
        job.lease_owner = None
        dep = s.get(models.Deployment, job.deployment_id) if job.deployment_id else None
        if temporary:
            job.state = JobState.QUEUED.value
            job.run_after = now + _backoff(job.attempts)
            shown = f"{job.kind} attempt {job.attempts} failed, retrying at {_when(job.run_after)}: {error}"
            if dep is not None and dep.status in _RETRY_SHOWN_ON:
                dep.status_message = shown
                dep.updated_at = now
            if job.kind == JobKind.UNINSTALL and job.namespace:
                pool.note(s, job.namespace, reason=shown)
            return views.JobView.of(job)
        job.state = JobState.FAILED.value
        job.finished_at = now
        tries = f" after {job.attempts} attempts" if job.attempts > 1 else ""
        final = f"{job.kind} failed{tries}: {error}"
        if dep is not None:
            dep.status_message = final + _RETRY_HINT
            if job.kind in (JobKind.INSTALL, JobKind.UPGRADE):
                dep.status = DeploymentStatus.FAILED.value
            dep.updated_at = now
        if job.kind == JobKind.UNINSTALL and job.namespace:
            # the Deployment is out of users' sight now: show why its namespace is stuck in the admin's pool view
            pool.note(s, job.namespace, reason=final + _RETRY_HINT)
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


#: Deployment statuses a retrying job's reason is shown on (a healthy Deployment's failed upgrade attempt too).
_RETRY_SHOWN_ON = frozenset(
    {
        DeploymentStatus.DEPLOYING.value,
        DeploymentStatus.FAILED.value,
        DeploymentStatus.DELETING.value,
        DeploymentStatus.UNHEALTHY.value,
        DeploymentStatus.HEALTHY.value,
    }
)
_RETRY_HINT = (
    " (commander tries again by itself every few minutes, so an admin's fix is picked up; "
    "retry now with `airpool deployment retry`)"
)
#: How long a permanently failed job waits before ``requeue_owed`` tries it again.
PERMANENT_RETRY = timedelta(minutes=5)


def report_status(
    platform: Platform,
    deployment_id: str,
    *,
    status: DeploymentStatus,
    message: str = "",
    urls: list[views.DeploymentUrl] | None = None,
    lease: tuple[int, str] | None = None,
) -> bool:
    """Commander's latest observation of a Deployment (deploying / healthy / unhealthy / unknown ...).

    Ignored for a Deployment being deleted (its delete status wins) or already gone. ``lease`` (job id, worker
    id): written only while that worker's lease on that job holds (fencing); False when it does not."""
    now = platform.now()
    with platform.db.write() as s:
        if lease is not None:
            job_id, worker_id = lease
            held = s.scalar(
                sa.select(J.id).where(
                    J.id == job_id,
                    J.state == JobState.RUNNING.value,
                    J.lease_owner == worker_id,
                    J.lease_expires_at >= now,
                )
            )
            if held is None:
                return False
        dep = s.get(models.Deployment, deployment_id)
        if dep is None or dep.deleted_at is not None:
            return True
        dep.status = status.value
        dep.status_message = message
        if urls is not None:
            dep.urls = [{"type": u.type, "url": u.url} for u in urls]
        if status is DeploymentStatus.HEALTHY and dep.healthy_at is None:
            dep.healthy_at = now
            metrics.CLAIM_TO_HEALTHY.observe(max((now - dep.created_at).total_seconds(), 0.0))
        dep.updated_at = now
        return True


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
        _requeue(s, job, now=now)
        _audit_retry(s, actor.username, job, now)
        return views.JobView.of(job)


def _requeue(s: Session, job: models.CommanderJob, *, now: datetime) -> None:
    engine.wake_after_commit(s)
    job.state = JobState.QUEUED.value
    job.attempts = 0
    job.run_after = now
    job.finished_at = None
    job.lease_owner = None
    job.lease_expires_at = None
    job.updated_at = now


def _audit_retry(s: Session, actor: str, job: models.CommanderJob, now: datetime) -> None:
    audit.record(
        s,
        actor=actor,
        action=f"job.{job.kind}.retry",
        target_kind="job",
        target_id=str(job.id),
        detail={"deployment_id": job.deployment_id},
        at=now,
    )


_ACTIVE = (JobState.QUEUED.value, JobState.RUNNING.value)


def _owed(s: Session, dep: models.Deployment) -> tuple[JobKind, models.CommanderJob | None] | None:
    """The work ``dep`` still needs and its latest job of that kind, or None when nothing is owed (or a job
    is already on it). Deleted and deleting: the uninstall; live and failed: the install or upgrade."""
    jobs = list(s.scalars(sa.select(J).where(J.deployment_id == dep.id).order_by(J.id.desc())))
    if any(j.state in _ACTIVE for j in jobs):
        return None
    if dep.deleted_at is not None:
        if dep.status != DeploymentStatus.DELETING.value:
            return None  # uninstalled (soft delete: retained until releases_at)
        latest = next((j for j in jobs if j.kind == JobKind.UNINSTALL), None)
        return (JobKind.UNINSTALL, latest)
    if not jobs:
        return (JobKind.INSTALL, None)  # its install job was lost
    latest = next((j for j in jobs if j.kind in (JobKind.INSTALL, JobKind.UPGRADE)), None)
    if dep.status != DeploymentStatus.FAILED.value or latest is None or latest.state != JobState.FAILED.value:
        return None
    return (JobKind(latest.kind), latest)


def _restart(s: Session, dep: models.Deployment, kind: JobKind, latest: models.CommanderJob | None, now: datetime) -> J:
    if latest is not None and latest.state == JobState.FAILED.value:
        _requeue(s, latest, now=now)
        job = latest
    else:  # lost or cancelled: the Deployment row says what is owed, a new job carries it
        payload = (
            uninstall_payload(dep)
            if kind is JobKind.UNINSTALL
            else ({"dag_deployment": dep.dag_deployment} if dep.dag_deployment else {})
        )
        job = enqueue(s, kind=kind, at=now, deployment_id=dep.id, namespace=dep.namespace, payload=payload)
    dep.status_message = f"{kind} queued again"
    if kind is not JobKind.UNINSTALL:
        dep.status = DeploymentStatus.DEPLOYING.value
    dep.updated_at = now
    return job


def retry_deployment(platform: Platform, actor: Actor, deployment_id: str) -> views.JobView:
    """Run the work a Deployment still needs again, now: its failed install/upgrade, or the uninstall of a
    Deployment being deleted (also one whose job was lost). Editors of its workspace and system admins; the
    Deployment may already be deleted (that is when an uninstall gets stuck)."""
    now = platform.now()
    with platform.db.write() as s:
        dep = s.get(models.Deployment, deployment_id, with_for_update=True)
        if dep is None:
            raise access.deployment_not_found(deployment_id)
        try:
            access.require_role(s, actor, dep.workspace_id, access.Role.EDITOR)
        except NotFound:
            raise access.deployment_not_found(deployment_id) from None
        waiting = s.scalars(
            sa.select(J).where(J.deployment_id == dep.id, J.state == JobState.QUEUED.value).order_by(J.id)
        ).first()
        if waiting is not None:  # backing off after a temporary failure: run it now
            waiting.run_after = now
            waiting.updated_at = now
            _audit_retry(s, actor.username, waiting, now)
            return views.JobView.of(waiting)
        owed = _owed(s, dep)
        if owed is None:
            running = s.scalars(
                sa.select(J).where(J.deployment_id == dep.id, J.state == JobState.RUNNING.value)
            ).first()
            if running is not None:
                raise Conflict(
                    f"Deployment {dep.release_name} has nothing to retry: commander is working on its "
                    f"{running.kind} right now (attempt {running.attempts})"
                )
            raise Conflict(
                f"Deployment {dep.release_name} has nothing to retry: it is {dep.status}"
                + (f" ({dep.status_message})" if dep.status_message else "")
            )
        job = _restart(s, dep, *owed, now)
        s.flush()
        _audit_retry(s, actor.username, job, now)
        return views.JobView.of(job)


def requeue_owed(platform: Platform, *, failed_before: timedelta = PERMANENT_RETRY) -> list[views.JobView]:
    """Commander's periodic pass: queue again the work Deployments still need with no job on it -- failed
    permanently more than ``failed_before`` ago (an admin may have fixed the cause meanwhile), or lost."""
    now = platform.now()
    with platform.db.read() as s:
        candidates = list(
            s.scalars(
                sa.select(models.Deployment.id).where(
                    models.Deployment.status.in_([DeploymentStatus.DELETING.value, DeploymentStatus.FAILED.value])
                )
            )
        )
    queued: list[views.JobView] = []
    for dep_id in candidates:
        with platform.db.write() as s:
            dep = s.get(models.Deployment, dep_id, with_for_update=True)
            owed = _owed(s, dep) if dep is not None else None
            if dep is None or owed is None:
                continue
            kind, latest = owed
            if latest is not None and latest.finished_at is not None and latest.finished_at > now - failed_before:
                continue  # failed a moment ago: give the admin time, retry on a later pass
            job = _restart(s, dep, kind, latest, now)
            s.flush()
            _audit_retry(s, audit.SYSTEM, job, now)
            queued.append(views.JobView.of(job))
    return queued


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


def of_deployment(platform: Platform, actor: Actor, deployment_id: str) -> list[views.JobView]:
    """A Deployment's commander jobs, newest first (what happened, what failed and why), also after it was
    deleted, while its record remains. Viewers of its workspace and system admins."""
    with platform.db.read() as s:
        dep = s.get(models.Deployment, deployment_id)
        if dep is not None:
            try:
                access.require_role(s, actor, dep.workspace_id, access.Role.VIEWER)
            except NotFound:
                dep = None
        if dep is None and not actor.is_system_admin:  # a finished hard delete leaves only its jobs: admins look
            raise access.deployment_not_found(deployment_id)
        q = sa.select(J).where(J.deployment_id == deployment_id).order_by(J.id.desc())
        jobs = [views.JobView.of(j) for j in s.scalars(q)]
        if dep is None and not jobs:
            raise access.deployment_not_found(deployment_id)
        return jobs
