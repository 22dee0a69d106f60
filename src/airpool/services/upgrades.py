"""Airflow upgrades and image deploys (Houston's ``updateDeploymentAirflow`` and ``updateDeploymentImage``), and
what commander reports back about them. The rules and phases are in ``domain.rollouts``.

The Deployment row holds the desired state: ``desired_airflow_version`` / ``desired_image`` while a rollout is
pending, ``rollout_phase`` for where it stands. An ``upgrade`` job wakes commander; commander re-reads the row, so a
rollout cancelled before its migration started is simply not done (``begin_migration`` is the compare-and-set that
decides which of the two won). Once the migration runs, the rollout finishes or fails; it is not cancelled: Airflow
does not reverse its migrations.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from airpool.domain import rollouts
from airpool.domain.deployments import DeploymentStatus
from airpool.domain.errors import Conflict, InvalidInput, NotFound
from airpool.domain.rollouts import RolloutPhase
from airpool.services import access, audit, commander_jobs, deployments, views
from airpool.services.access import Actor, Role
from airpool.services.platform import Platform
from airpool.store import models

D = models.Deployment


def supported_versions(platform: Platform) -> tuple[str, ...]:
    """The versions Deployments may upgrade to (``airpool.airflow.versions``), oldest first."""
    return platform.config.airflow.versions


def _pending(dep: models.Deployment) -> str:
    target = dep.desired_airflow_version or dep.airflow_version
    image = f" with image {dep.desired_image}" if dep.desired_image else ""
    return f"Airflow {target}{image}"


def _queue(
    s: Session,
    dep: models.Deployment,
    *,
    message: str,
    now: datetime,
    phase: RolloutPhase | None = RolloutPhase.QUEUED,
    job: bool = True,
) -> None:
    dep.rollout_phase = phase.value if phase is not None else None
    dep.rollout_error = None
    dep.status = DeploymentStatus.DEPLOYING.value
    dep.status_message = message
    dep.updated_at = now
    if not job:
        return
    commander_jobs.cancel_queued(s, deployment_id=dep.id, kinds=(commander_jobs.JobKind.UPGRADE,), at=now)
    commander_jobs.enqueue(
        s,
        kind=commander_jobs.JobKind.UPGRADE,
        at=now,
        deployment_id=dep.id,
        namespace=dep.namespace,
        payload={
            **({"dag_deployment": dep.dag_deployment} if dep.dag_deployment else {}),
            "reason": message.removeprefix("queued for "),
        },
    )


def _refuse_while_migrating(dep: models.Deployment, what: str) -> None:
    if dep.rollout_phase == RolloutPhase.MIGRATING.value:
        raise Conflict(
            f"{what} is not possible now: commander is running the database migration of {_pending(dep)} on "
            f"Deployment {dep.release_name}; wait until it has finished (its status says when)"
        )


def request_upgrade(
    s: Session, platform: Platform, dep: models.Deployment, desired: str, *, now: datetime, job: bool = True
) -> bool:
    """Record an upgrade of a locked Deployment row (in the caller's transaction); True when commander is owed a
    rollout (queued here, or by the caller when ``job`` is False).

    A Deployment that runs its own image waits for an image deploy of the new version (``awaiting-image``)."""
    desired = rollouts.check_upgrade(dep.airflow_version, desired, supported_versions(platform))
    if desired == dep.airflow_version:
        return False
    _refuse_while_migrating(dep, f"an upgrade to Airflow {desired}")
    dep.desired_airflow_version = desired
    dep.desired_image = None
    if dep.image:
        dep.rollout_phase = RolloutPhase.AWAITING_IMAGE.value
        dep.rollout_error = None
        dep.updated_at = now
        return False
    _queue(s, dep, message=f"queued for upgrade to Airflow {desired}", now=now, job=job)
    return True


def _end_rollout(dep: models.Deployment, now: datetime) -> None:
    """Nothing pending any more (cancelled, rolled out or failed)."""
    dep.desired_airflow_version = None
    dep.desired_image = None
    dep.rollout_phase = None
    dep.updated_at = now


def _cancel(s: Session, dep: models.Deployment, actor: Actor, *, now: datetime) -> None:
    if dep.rollout_phase is None:
        return  # nothing pending: Houston answers the Deployment as it is
    _refuse_while_migrating(dep, "Cancelling")
    cancelled = _pending(dep)
    _end_rollout(dep, now)
    # A queued upgrade job stays: commander re-reads the row and re-applies what runs (nothing changes).
    audit.record(
        s,
        actor=actor.username,
        action="deployment.upgrade.cancel",
        target_kind="deployment",
        target_id=dep.id,
        workspace_id=dep.workspace_id,
        detail={"cancelled": cancelled, "airflow_version": dep.airflow_version},
        at=now,
    )


def update_airflow(platform: Platform, actor: Actor, deployment_id: str, desired: str) -> views.DeploymentView:
    """Houston's ``updateDeploymentAirflow``: upgrade to ``desired`` (one of ``airpool.airflow.versions``, not
    older than the running version); ``desired`` equal to the running version cancels a pending upgrade (what the
    CLI's ``deployment airflow upgrade --cancel`` sends). Needs editor. Refusals change nothing."""
    desired = (desired or "").strip()
    if not desired:
        raise InvalidInput("desiredAirflowVersion must not be empty; give a version like 3.3.2")
    now = platform.now()
    with platform.db.write() as s:
        dep = deployments._visible(s, actor, deployment_id, Role.EDITOR, lock=True)
        if desired == dep.airflow_version:
            _cancel(s, dep, actor, now=now)
            return views.DeploymentView.of(dep)
        before = dep.desired_airflow_version
        request_upgrade(s, platform, dep, desired, now=now)
        if before != dep.desired_airflow_version:
            audit.record(
                s,
                actor=actor.username,
                action="deployment.upgrade",
                target_kind="deployment",
                target_id=dep.id,
                workspace_id=dep.workspace_id,
                detail={"from": dep.airflow_version, "to": desired, "phase": dep.rollout_phase or ""},
                at=now,
            )
        return views.DeploymentView.of(dep)


def deploy_image(
    platform: Platform,
    actor: Actor,
    *,
    release_name: str,
    image: str,
    airflow_version: str | None = None,
    runtime_version: str | None = None,
) -> views.DeploymentView:
    """Houston's ``updateDeploymentImage``: roll the Deployment's Airflow components to ``image`` (built
    elsewhere), of ``airflow_version`` (default: the running version; a newer one upgrades, migration included).
    Needs editor. Refusals (a malformed reference, an older version, a Runtime version) change nothing."""
    if (runtime_version or "").strip():
        raise InvalidInput(
            "runtimeVersion is not supported: airpool runs Airflow images, not Astro Runtime ones "
            "(appConfig astroRuntimeEnabled is false); send airflowVersion instead"
        )
    reference = rollouts.check_image(image or "")
    wanted_version = (airflow_version or "").strip() or None
    if wanted_version is not None and rollouts.version_key(wanted_version)[0] not in (2, 3):
        raise InvalidInput(f"airflowVersion {wanted_version} is not supported; use a 2.x.y or 3.x.y release")
    release = (release_name or "").strip()
    if not release:
        raise InvalidInput("releaseName must not be empty")
    now = platform.now()
    with platform.db.write() as s:
        found = s.scalars(sa.select(D.id).where(D.release_name == release, D.deleted_at.is_(None))).first()
        if found is None:
            raise NotFound(f"deployment with release name {access.shown(release)} not found")
        dep = deployments._visible(s, actor, found, Role.EDITOR, lock=True)
        version = wanted_version or dep.airflow_version
        if rollouts.version_key(version) < rollouts.version_key(dep.airflow_version):
            raise InvalidInput(
                f"airflowVersion {version} is older than the running Airflow {dep.airflow_version}; Airflow's "
                "database migrations only go forward, so a downgrade is not possible"
            )
        _refuse_while_migrating(dep, f"Deploying image {reference}")
        upgrade = f" (upgrade to Airflow {version})" if version != dep.airflow_version else ""
        if (reference, version) == (dep.image, dep.airflow_version):
            # What already runs: nothing pending; commander re-applies it (a pod that lost its image comes back).
            dep.desired_image = dep.desired_airflow_version = None
            _queue(s, dep, message=f"queued for deploy of image {reference}", now=now, phase=None)
        else:
            dep.desired_image = reference
            dep.desired_airflow_version = version if upgrade else None
            _queue(s, dep, message=f"queued for deploy of image {reference}{upgrade}", now=now)
        audit.record(
            s,
            actor=actor.username,
            action="deployment.image",
            target_kind="deployment",
            target_id=dep.id,
            workspace_id=dep.workspace_id,
            detail={"image": reference, "airflow_version": version},
            at=now,
        )
        return views.DeploymentView.of(dep)


# -- commander's side --------------------------------------------------------------------------------------------


def _lease_held(s: Session, lease: tuple[int, str], now: datetime) -> bool:
    J = models.CommanderJob
    job_id, worker_id = lease
    held = s.scalar(
        sa.select(J.id).where(
            J.id == job_id,
            J.state == commander_jobs.JobState.RUNNING.value,
            J.lease_owner == worker_id,
            J.lease_expires_at >= now,
        )
    )
    return held is not None


class LeaseLost(Exception):
    """The job's lease is not this worker's any more: it must not write."""


def _locked(s: Session, deployment_id: str, lease: tuple[int, str], now: datetime) -> models.Deployment | None:
    if not _lease_held(s, lease, now):
        raise LeaseLost()
    dep = s.get(D, deployment_id, with_for_update=True)
    return None if dep is None or dep.deleted_at is not None else dep


def target(dep: views.DeploymentView) -> tuple[str, str | None] | None:
    """(version, image or None for the platform's) a queued or migrating rollout goes to; None: nothing to roll."""
    if dep.rollout_phase not in (RolloutPhase.QUEUED.value, RolloutPhase.MIGRATING.value):
        return None
    version = dep.desired_airflow_version or dep.airflow_version
    image = dep.desired_image or (dep.image if version == dep.airflow_version else None)
    if (version, image) == (dep.airflow_version, dep.image):
        return None
    return version, image


def begin_migration(
    platform: Platform, deployment_id: str, *, version: str, image: str | None, lease: tuple[int, str]
) -> bool:
    """Commander is about to run the migration of (version, image): True (phase ``migrating``: no cancel from
    now on) if that is still the pending rollout, False if it was cancelled or replaced meanwhile."""
    now = platform.now()
    with platform.db.write() as s:
        dep = _locked(s, deployment_id, lease, now)
        if dep is None:
            return False
        if target(views.DeploymentView.of(dep)) != (version, image):
            return False
        dep.rollout_phase = RolloutPhase.MIGRATING.value
        dep.status = DeploymentStatus.DEPLOYING.value
        dep.status_message = f"running the database migration of Airflow {version}"
        dep.updated_at = now
        return True


def finish_rollout(
    platform: Platform, deployment_id: str, *, version: str, image: str | None, lease: tuple[int, str]
) -> None:
    """The migration succeeded: the Deployment runs (version, image) from now on (commander rolls it next)."""
    now = platform.now()
    with platform.db.write() as s:
        dep = _locked(s, deployment_id, lease, now)
        if dep is None:
            return
        before = dep.airflow_version
        dep.airflow_version = version
        dep.image = image
        dep.rollout_error = None
        _end_rollout(dep, now)
        audit.record(
            s,
            actor=audit.SYSTEM,
            action="deployment.upgrade.migrated",
            target_kind="deployment",
            target_id=dep.id,
            workspace_id=dep.workspace_id,
            detail={"from": before, "to": version, "image": image or ""},
            at=now,
        )


def fail_rollout(platform: Platform, deployment_id: str, *, reason: str, lease: tuple[int, str]) -> None:
    """The rollout failed before anything of the old version was replaced: nothing is pending any more, the reason
    stays on the Deployment (``rollout_error``) until the next successful rollout."""
    now = platform.now()
    with platform.db.write() as s:
        dep = _locked(s, deployment_id, lease, now)
        if dep is None:
            return
        dep.rollout_error = reason
        _end_rollout(dep, now)
        audit.record(
            s,
            actor=audit.SYSTEM,
            action="deployment.upgrade.failed",
            target_kind="deployment",
            target_id=dep.id,
            workspace_id=dep.workspace_id,
            detail={"reason": reason[:500]},
            at=now,
        )
