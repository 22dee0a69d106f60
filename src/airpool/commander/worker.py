"""The commander worker: leases jobs from the database and carries them out on the cluster.

Several workers may run at once (in ``airpool serve`` processes and ``airpool commander`` replicas); the job
queue (``services.commander_jobs``) guarantees one owner per job through its lease, which a heartbeat thread
renews. When a worker dies, its lease expires and another worker takes the job over; every step is idempotent
(server-side apply of the same objects, secrets read back before rendering, label-selected deletion), so the
takeover converges to exactly one Deployment's objects.

Fencing: a worker paused (SIGSTOP, a frozen VM) past its lease must not write once another worker may own the
job. The heartbeat keeps the time the lease is known to last (monotonic clock, which runs on while the process is
stopped); ``_Heartbeat.check`` -- the fence handed to ``install``/``uninstall``, called before every write --
raises ``errors.Fenced`` once it has passed, unless the database confirms the lease is still ours. Status reports
and job ends are fenced by the database itself (``commander_jobs`` checks the lease). And right before a
namespace is offered again after a hard delete, commander checks it holds nothing of any Deployment.

Besides jobs, the worker checks every pool namespace that is offered (or was found misconfigured) every
``health_check_interval`` seconds and records the verdict, so a broken namespace leaves the pool and a fixed
one comes back. That pass (``pool_monitor``) runs in a thread of its own, so a long pass over thousands of
namespaces never holds up install and uninstall jobs. The worker also refreshes the status of live Deployments
(``unknown`` with the reason when it cannot look) and queues again the work still owed
(``commander_jobs.requeue_owed``): convergence is level-triggered, a failed or lost job never strands a Deployment
or a namespace. The first of each runs as soon as the worker starts.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from lightkube import Client

from airpool.commander import errors, health, install, pool_monitor, preflight, rollout, specs, status, uninstall
from airpool.domain import dags as dag_choices
from airpool.domain.deployments import DeploymentStatus
from airpool.domain.errors import AirpoolError
from airpool.manifests.airflow.spec import AirflowSpec, DagDeployment, DagSource
from airpool.services import access, commander_jobs, deployments, pool, upgrades, variables, views
from airpool.services.commander_jobs import JobKind
from airpool.services.platform import Platform

log = logging.getLogger(__name__)

#: Commander reads the pool's state as the system; it never acts for a user.
SYSTEM_ACTOR = access.Actor(user_id="commander", username="commander", is_system_admin=True)


@dataclass(frozen=True)
class WorkerSettings:
    lease_seconds: int = 60
    #: Sleep between polls of an empty queue.
    poll_interval: float = 0.25
    #: How long an install job watches its Deployment towards healthy before handing over to later checks.
    healthy_timeout: float = 300.0
    status_interval: float = 0.5
    #: Between looks at every live Deployment no job is working on (a pod that crashes an hour after the
    #: install turns its Deployment unhealthy, and back).
    status_refresh_interval: float = 15.0
    #: Between passes that queue again the work still owed (a failed uninstall, a lost job).
    converge_interval: float = 30.0
    #: How long a permanently failed job waits before the periodic pass tries it again (an admin's fix is picked
    #: up within this time; `airpool deployment retry` does it at once).
    permanent_retry_seconds: float = 300.0
    #: Whether this worker also runs the periodic pool health check and status refresh (one per process is
    #: enough; the others only run jobs).
    periodic: bool = True


#: Another worker may own the job now (our lease passed): stop without writing or reporting anything.
LeaseLost = errors.Fenced


def dag_deployment(payload: dict[str, object]) -> DagDeployment | None:
    """A job's ``dag_deployment``: ``{"type": "nfs", "nfs_location": "server:/path"}``, ``{"type": "git_sync",
    ...}`` or ``{"type": "image"}`` (the default when absent). Install and upgrade render from the Deployment
    record itself (``_spec``); this is for uninstall jobs, whose Deployment may be gone."""
    raw = payload.get("dag_deployment")
    if not isinstance(raw, dict) or raw.get("type", "image") == "image":
        return None
    try:
        return DagDeployment.of(dag_choices.from_payload(raw))
    except AirpoolError as exc:
        raise errors.CommanderError(f"dag deployment in the job is not valid: {exc.message}") from exc


def _needs_cluster_scope(payload: dict[str, object]) -> bool:
    """An NFS Deployment has a PersistentVolume (cluster-scoped) to delete."""
    chosen = dag_deployment(payload)
    return chosen is not None and chosen.source is DagSource.NFS


def new_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class _Heartbeat:
    """Renews the lease every third of its length while a job runs, and fences: ``check`` raises ``LeaseLost``
    once the lease may have passed.

    ``valid_until`` (monotonic) is when the lease last granted or renewed ends, counted from before the request
    that got it. A process stopped and resumed sees its monotonic clock jump past it; ``check`` then asks the
    database once (a heartbeat) and goes on only if the lease is still ours."""

    #: Stop writing this much before the lease ends (clocks of two machines are never quite the same).
    MARGIN = 0.1

    def __init__(
        self, platform: Platform, job_id: int, worker_id: str, lease_seconds: int, *, leased_at: float
    ) -> None:
        self.job_id = job_id
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._args = (platform, job_id, worker_id, lease_seconds)
        self._lock = threading.Lock()
        self._valid_until = leased_at + lease_seconds * (1 - self.MARGIN)
        self._thread = threading.Thread(target=self._beat, name=f"lease-{job_id}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _renew(self) -> bool:
        platform, job_id, worker_id, lease_seconds = self._args
        asked_at = time.monotonic()
        alive = commander_jobs.heartbeat(platform, job_id, worker_id=worker_id, lease_seconds=lease_seconds)
        if alive:
            with self._lock:
                self._valid_until = max(self._valid_until, asked_at + lease_seconds * (1 - self.MARGIN))
        else:
            self.lost.set()
        return alive

    def _beat(self) -> None:
        _, job_id, _, lease_seconds = self._args
        while not self._stop.wait(max(lease_seconds / 3, 0.2)):
            try:
                if not self._renew():
                    return
            except Exception:  # a database hiccup: try again at the next beat, the lease still has time
                log.warning("heartbeat failed", exc_info=True, extra={"kv": {"job": job_id}})

    def check(self) -> None:
        """The fence: raise ``LeaseLost`` when another worker may own the job now."""
        if self.lost.is_set():
            raise LeaseLost()
        with self._lock:
            expired = time.monotonic() >= self._valid_until
        if expired:
            try:
                alive = self._renew()
            except Exception:  # cannot confirm the lease: do not write
                alive = False
            if not alive:
                self.lost.set()
                raise LeaseLost()


@dataclass(frozen=True)
class _Outcome:
    message: str
    #: uninstall: why the namespace must not be offered yet (commander's check right before offering it)
    not_offerable: str | None = None


class Worker:
    def __init__(
        self,
        platform: Platform,
        client: Client,
        *,
        worker_id: str | None = None,
        settings: WorkerSettings | None = None,
    ) -> None:
        self.platform = platform
        self.client = client
        self.worker_id = worker_id or new_worker_id()
        self.settings = settings or WorkerSettings()
        # None = never ran: the first pool health check and status refresh run as soon as the worker starts, not
        # once ``time.monotonic()`` (seconds since boot on Linux) exceeds the interval.
        self._last_refresh: float | None = None
        self._last_converge: float | None = None
        self._stopping = threading.Event()
        self.monitor = pool_monitor.PoolMonitor(platform, client)

    # --- the loop ------------------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Until ``stop`` is set: run jobs as they come, and the periodic pool health check."""
        log.info("worker started", extra={"kv": {"worker": self.worker_id}})
        self._stopping = stop
        health_thread = None
        if self.settings.periodic:
            health_thread = threading.Thread(
                target=self._health_loop, args=(stop,), name=f"pool-health-{self.worker_id}", daemon=True
            )
            health_thread.start()
        while not stop.is_set():
            try:
                if self.settings.periodic:
                    self._periodic()
                ran = self.run_once()
            except Exception:  # never let one bad iteration kill the worker; the job (if any) was failed
                log.exception("worker iteration failed", extra={"kv": {"worker": self.worker_id}})
                ran = None
            if ran is None:  # woken at once by work queued in this process, else after the poll interval
                self.platform.db.wait_for_work(self.settings.poll_interval)
        if health_thread is not None:
            health_thread.join()
        log.info("worker stopped", extra={"kv": {"worker": self.worker_id}})

    def _health_loop(self, stop: threading.Event) -> None:
        """The pool health pass at start and every ``health_check_interval`` seconds, and in between a check of
        what commander's watches on the pool saw change (``PoolMonitor.run``)."""
        self.monitor.run(stop, interval=self.platform.config.health_check_interval)

    def _periodic(self) -> None:
        if _due(self._last_refresh, self.settings.status_refresh_interval):
            self.refresh_statuses()
        if _due(self._last_converge, self.settings.converge_interval):
            self.converge()

    def converge(self) -> list[views.JobView]:
        """Queue again the work Deployments still need with no job on it (level-triggered convergence)."""
        self._last_converge = time.monotonic()
        queued = commander_jobs.requeue_owed(
            self.platform, failed_before=timedelta(seconds=self.settings.permanent_retry_seconds)
        )
        for job in queued:
            log.info(
                "work still owed, queued again",
                extra={"kv": {"job": job.id, "kind": job.kind, "deployment": job.deployment_id}},
            )
        return queued

    def run_once(self) -> views.JobView | None:
        """Lease and run one job; None when the queue had nothing runnable."""
        leased_at = time.monotonic()
        leased = commander_jobs.lease(
            self.platform, worker_id=self.worker_id, lease_seconds=self.settings.lease_seconds
        )
        if leased is None:
            return None
        job = leased.job
        where = {"job": job.id, "kind": job.kind, "deployment": job.deployment_id, "namespace": job.namespace}
        log.info("job leased", extra={"kv": {**where, "attempt": job.attempts, "worker": self.worker_id}})
        beat = _Heartbeat(self.platform, job.id, self.worker_id, self.settings.lease_seconds, leased_at=leased_at)
        with beat:
            try:
                with health.GATE.job():  # the pool health pass gives way while a job runs
                    outcome = self._run(leased, beat)
                beat.check()
            except LeaseLost:
                removed = self._after_lost_lease(job)
                log.warning(
                    "lease lost; another worker owns the job now, nothing more is written",
                    extra={"kv": {**where, "late_objects_removed": removed}},
                )
                return job
            except Exception as exc:
                judged = errors.classify(exc, review=self._review)
                if isinstance(judged, errors.TemporaryFailure):
                    log.warning("job failed, will retry", extra={"kv": {**where, "error": str(judged)}})
                    return self._finish(job, beat, error=str(judged), temporary=True)
                if isinstance(judged, AirpoolError):
                    log.warning("job failed", extra={"kv": {**where, "error": judged.message}})
                    return self._finish(job, beat, error=judged.message, temporary=False)
                log.exception("job crashed", extra={"kv": where})
                return self._finish(
                    job, beat, error=f"internal error ({type(exc).__name__}); see commander logs", temporary=True
                )
        log.info("job done", extra={"kv": {**where, "result": outcome.message}})
        return self._finish(job, beat, message=outcome.message, not_offerable=outcome.not_offerable)

    def _after_lost_lease(self, job: views.JobView) -> int:
        """An install or upgrade stopped by its fence may have sent writes that were in flight when the process was
        paused (a fence cannot reach inside a request already on its way). When its Deployment has been deleted
        meanwhile, whatever it wrote is that deleted Deployment's garbage: remove it (only objects labelled with
        that Deployment's id, so nothing of any other Deployment is touched). A live Deployment is its new
        owner's business. Returns how many objects were removed."""
        if JobKind(job.kind) not in (JobKind.INSTALL, JobKind.UPGRADE) or not job.deployment_id or not job.namespace:
            return 0
        try:
            deployments.get(self.platform, SYSTEM_ACTOR, job.deployment_id)
            return 0  # still live: the worker that took the job over applies the same objects
        except AirpoolError:
            pass
        try:
            return uninstall.delete_objects(self.client, job.namespace, job.deployment_id)
        except Exception:
            log.warning("could not remove a deleted Deployment's late objects", exc_info=True)
            return 0

    def _review(self, verb: str, resource: str, subresource: str, group: str, namespace: str | None) -> bool:
        return preflight.access_allowed(self.client, verb, resource, subresource, group, namespace)

    def _finish(
        self,
        job: views.JobView,
        beat: _Heartbeat,
        *,
        message: str = "",
        error: str | None = None,
        temporary: bool = False,
        not_offerable: str | None = None,
    ) -> views.JobView:
        try:
            beat.check()
            if error is None:
                return commander_jobs.complete(
                    self.platform, job.id, worker_id=self.worker_id, message=message, not_offerable=not_offerable
                )
            return commander_jobs.fail(
                self.platform, job.id, worker_id=self.worker_id, error=error, temporary=temporary
            )
        except LeaseLost:
            log.warning(
                "lease lost before the job's end was recorded; the new owner reports", extra={"kv": {"job": job.id}}
            )
            return job
        except AirpoolError as exc:  # lease expired meanwhile: the new owner reports
            log.warning("could not record the job's end", extra={"kv": {"job": job.id, "error": exc.message}})
            return job

    # --- jobs ----------------------------------------------------------------------------------------------------

    def _run(self, leased: views.LeasedJob, beat: _Heartbeat) -> _Outcome:
        job = leased.job
        kind = JobKind(job.kind)
        if kind in (JobKind.INSTALL, JobKind.UPGRADE):
            if leased.deployment is None or leased.deployment.deleted_at is not None:
                return _Outcome("nothing to install: the Deployment was deleted")
            return _Outcome(self._install(leased.deployment, beat))
        if kind is JobKind.UNINSTALL:
            return self._uninstall(job, beat)
        if kind is JobKind.PURGE:
            beat.check()
            return _Outcome(self._purge(job))
        if kind is JobKind.HEALTH:
            beat.check()
            return _Outcome(self._health(job.namespace or ""))
        raise errors.CommanderError(f"unknown commander job kind {job.kind!r}")

    @property
    def _reads_health(self) -> bool:
        return self.platform.config.airflow.read_health_endpoint

    def _spec(
        self,
        dep: views.DeploymentView,
        *,
        target: tuple[str, str | None] | None = None,
    ) -> AirflowSpec:
        """Everything commander renders for ``dep``: its record, its variables and git-sync credentials.
        ``target``: (version, image) of a rollout instead of what the Deployment runs now."""
        version, image = target if target is not None else (dep.airflow_version, dep.image)
        spec = specs.airflow_spec(
            self.platform.config,
            deployment_id=dep.id,
            release_name=dep.release_name,
            namespace=dep.namespace,
            executor=dep.executor.value,
            airflow_version=version,
            workspace_id=dep.workspace_id,
            config_payload=dep.config,
            image=image,
        )
        spec = dataclasses.replace(
            spec,
            env_vars=variables.for_commander(self.platform, dep.id).items,
            dags=DagDeployment.of(dep.dag_deployment),
        )
        if dep.dag_deployment.is_git_sync:
            secret = deployments.git_credentials(self.platform, dep.id)
            spec = dataclasses.replace(spec, git_ssh_key=secret.ssh_key or "", git_known_hosts=secret.known_hosts or "")
        return spec

    def _rollout(self, dep: views.DeploymentView, beat: _Heartbeat) -> str | None:
        """A pending upgrade or image deploy: run the new image's migration while the old version runs. Returns
        None when it succeeded (the Deployment row now names the new version/image) or nothing was pending, else
        why it failed (recorded on the Deployment; the caller re-applies the old version)."""
        target = upgrades.target(dep)
        if target is None:
            return None
        lease = (beat.job_id, self.worker_id)
        version, image = target
        beat.check()
        if not upgrades.begin_migration(self.platform, dep.id, version=version, image=image, lease=lease):
            return None  # cancelled or replaced meanwhile: the caller applies what the row says now
        config = self.platform.config
        spec = self._spec(dep, target=target)
        where = specs.placement(config, spec.namespace, pool_row=pool.is_known(self.platform, spec.namespace))
        try:
            took = rollout.migrate(
                self.client,
                spec,
                manage_namespace=where.manage_namespace,
                pool_enabled=config.pool_enabled,
                cluster_roles=config.cluster_roles,
                database_admin_url=config.airflow.database_admin_url,
                timeout=float(config.airflow.upgrade_timeout),
                fence=beat.check,
                progress=lambda message: self._report(dep.id, DeploymentStatus.DEPLOYING, message, beat=beat),
            )
        except rollout.MigrationFailed as exc:
            running = f"Airflow {dep.airflow_version}" + (f" (image {dep.image})" if dep.image else "")
            what = f"image {image} (Airflow {version})" if image else f"Airflow {version}"
            reason = f"deploying {what} failed: {exc}; {running} keeps running"
            beat.check()
            upgrades.fail_rollout(self.platform, dep.id, reason=reason, lease=lease)
            log.warning("rollout failed", extra={"kv": {"deployment": dep.id, "reason": reason}})
            return reason
        except upgrades.LeaseLost:
            raise LeaseLost() from None
        beat.check()
        upgrades.finish_rollout(self.platform, dep.id, version=version, image=image, lease=lease)
        log.info(
            "rollout migrated",
            extra={"kv": {"deployment": dep.id, "version": version, "seconds": round(took, 1)}},
        )
        return None

    def _install(self, dep: views.DeploymentView, beat: _Heartbeat) -> str:
        config = self.platform.config
        try:
            failed = self._rollout(dep, beat)
        except upgrades.LeaseLost:
            raise LeaseLost() from None
        # What the row says now: the new version after a migration, the old one after a failure or a cancel.
        now = deployments.find(self.platform, SYSTEM_ACTOR, deployment_id=dep.id)
        if now is None:
            return "nothing to install: the Deployment was deleted"
        dep = now
        spec = self._spec(dep)
        where = specs.placement(config, spec.namespace, pool_row=pool.is_known(self.platform, spec.namespace))
        self._report(dep.id, DeploymentStatus.DEPLOYING, "applying the Deployment's objects", beat=beat)
        result = install.install(
            self.client,
            spec,
            manage_namespace=where.manage_namespace,
            namespace_labels=config.namespace_labels,
            pool_enabled=config.pool_enabled,
            cluster_roles=config.cluster_roles,
            database_admin_url=config.airflow.database_admin_url,
            cluster_scoped=where.cluster_scoped,
            fence=beat.check,
        )
        beat.check()
        applied = f"{result.applied} objects applied in {result.seconds:.1f} s"
        if failed:
            applied = f"{failed}; {applied}"
        return self._watch(dep.id, spec, beat, applied)

    def _watch(self, deployment_id: str, spec: AirflowSpec, beat: _Heartbeat, applied: str) -> str:
        """Report status changes until healthy, a newer job for the Deployment (a delete), or the timeout."""
        deadline = time.monotonic() + self.settings.healthy_timeout
        last: tuple[DeploymentStatus, str] | None = None
        message = applied
        while True:
            beat.check()
            report = status.check(self.client, spec, read_health_endpoint=self._reads_health)
            if (report.status, report.message) != last:
                last = (report.status, report.message)
                message = (
                    report.message
                    if report.status is not DeploymentStatus.DEPLOYING
                    else f"{applied}; {report.message}"
                )
                urls = [views.DeploymentUrl(type=t, url=u) for t, u in specs.urls(spec)]
                self._report(
                    deployment_id,
                    report.status,
                    message,
                    urls=urls if report.status is DeploymentStatus.HEALTHY else None,
                    beat=beat,
                )
            # The job's result becomes the Deployment's message: keep it the status message itself.
            if report.status is DeploymentStatus.HEALTHY:
                return report.message
            if time.monotonic() > deadline or self._stopping.is_set() or self._superseded(deployment_id):
                return message
            time.sleep(self.settings.status_interval)

    def _superseded(self, deployment_id: str) -> bool:
        return any(
            j.state == commander_jobs.JobState.QUEUED.value
            for j in commander_jobs.for_deployment(self.platform, deployment_id)
        )

    def _report(
        self,
        deployment_id: str,
        state: DeploymentStatus,
        message: str,
        *,
        urls: list[views.DeploymentUrl] | None = None,
        beat: _Heartbeat | None = None,
    ) -> None:
        """Record what commander saw; inside a job only while its lease is ours (the database checks it)."""
        if beat is None:
            commander_jobs.report_status(self.platform, deployment_id, status=state, message=message, urls=urls)
            return
        beat.check()
        job_id, worker_id = beat.job_id, self.worker_id
        if not commander_jobs.report_status(
            self.platform, deployment_id, status=state, message=message, urls=urls, lease=(job_id, worker_id)
        ):
            raise LeaseLost()

    def _uninstall(self, job: views.JobView, beat: _Heartbeat) -> _Outcome:
        config = self.platform.config
        namespace = job.namespace or ""
        if not namespace or not job.deployment_id:
            raise errors.CommanderError(f"uninstall job {job.id} names no namespace or Deployment")
        hard = bool(job.payload.get("hard", True))
        release = str(job.payload.get("release_name", ""))
        in_pool = pool.is_known(self.platform, namespace)
        where = specs.placement(config, namespace, pool_row=in_pool)
        db = specs.external_database(config, release) if release else None
        url = config.airflow.database_admin_url
        result = uninstall.uninstall(
            self.client,
            namespace=namespace,
            deployment_id=job.deployment_id,
            # A soft delete keeps the data, and without a pool the namespace holding it, until the retention ends:
            # the purge removes them (what the CLI promises).
            delete_namespace=where.manage_namespace and hard,
            cluster_scoped=where.cluster_scoped or _needs_cluster_scope(job.payload),
            drop_database=(url, db) if hard and url and db else None,
            keep_data=not hard,
            fence=beat.check,
        )
        if result.kept:
            return _Outcome(
                f"{result.deleted} objects deleted in {result.seconds:.1f} s; kept until the retention ends: "
                + ", ".join(result.kept)
            )
        message = f"{result.deleted} objects deleted in {result.seconds:.1f} s; namespace {namespace} is clean"
        if not (in_pool and hard):
            return _Outcome(message)
        # Right before the namespace is offered again: nothing of ANY Deployment may be in it (a paused worker
        # that lost its lease may have written after this one's sweep), and commander must still be able to use it.
        # The uninstall's last look searched every kind for any Deployment's objects (``result.others``): the check
        # does not list them all again.
        verdict = health.with_leftovers(health.check(self.client, namespace, leftovers=False), result.others)
        if verdict.ok:
            return _Outcome(message)
        log.warning(
            "namespace not offered after uninstall", extra={"kv": {"namespace": namespace, "reason": verdict.reason}}
        )
        return _Outcome(message, not_offerable=verdict.reason or "health check failed")

    def _purge(self, job: views.JobView) -> str:
        from airpool.commander import database

        release = str(job.payload.get("release_name", ""))
        url = self.platform.config.airflow.database_admin_url
        db = specs.external_database(self.platform.config, release) if release else None
        done: list[str] = []
        namespace = job.namespace or ""
        known = bool(namespace) and pool.is_known(self.platform, namespace)
        where = specs.placement(self.platform.config, namespace, pool_row=known)
        if namespace and job.deployment_id and known:
            # What the soft delete kept in the pool namespace (the in-namespace PostgreSQL's claim).
            result = uninstall.uninstall(self.client, namespace=namespace, deployment_id=job.deployment_id)
            if result.deleted:
                done.append(f"{result.deleted} kept object(s) deleted from {namespace}")
            # The namespace waits in misconfigured (retention ended) until checked: offer it now, not at the
            # monitor's next pass. A failed check keeps it there with the reason; the monitor tries again.
            verdict = self._health(namespace)
            done.append(f"namespace {namespace} " + ("checked clean" if verdict == "ok" else f"not offered: {verdict}"))
        elif namespace and job.deployment_id and where.manage_namespace:
            # The soft-deleted Deployment's namespace, kept until now; deleted only if commander created it for it.
            uninstall.uninstall(
                self.client, namespace=namespace, deployment_id=job.deployment_id, delete_namespace=True
            )
            done.append(f"namespace {namespace} released")
        if url and db:
            database.drop(url, db)
            done.append(f"database {db.database} dropped")
        return "; ".join(done) or "no kept data to drop"

    def _health(self, namespace: str) -> str:
        verdict = health.check(self.client, namespace)
        pool.record_health(self.platform, namespace, ok=verdict.ok, reason=verdict.reason or "")
        return "ok" if verdict.ok else (verdict.reason or "failed")

    def refresh_statuses(self) -> int:
        """Report the current status of every live Deployment no job is busy with; returns how many changed.
        A Deployment commander cannot look at (its namespace deleted, the API server down) turns ``unknown`` with
        the reason: a status never stays ``healthy`` on old news."""
        self._last_refresh = time.monotonic()
        changed = 0
        watched = (
            DeploymentStatus.DEPLOYING,
            DeploymentStatus.HEALTHY,
            DeploymentStatus.UNHEALTHY,
            DeploymentStatus.UNKNOWN,
        )
        for dep in deployments.list_visible(self.platform, SYSTEM_ACTOR, take=-1):
            if dep.status not in watched or _busy(self.platform, dep.id):
                continue
            try:
                report = status.check(self.client, self._spec(dep), read_health_endpoint=self._reads_health)
                seen = (report.status, report.message)
            except Exception as exc:
                judged = errors.classify(exc)
                if not isinstance(judged, errors.TemporaryFailure | AirpoolError):
                    raise
                reason = judged.message if isinstance(judged, AirpoolError) else str(judged)
                log.warning("status check failed", extra={"kv": {"deployment": dep.id, "error": reason}})
                seen = (DeploymentStatus.UNKNOWN, f"commander cannot check this Deployment: {reason}")
            if seen != (dep.status, dep.status_message):
                self._report(dep.id, *seen)
                changed += 1
        return changed

    def check_pool_health(self) -> health.PassResult:
        """Every offered or misconfigured pool namespace; held ones belong to their Deployment and are skipped."""
        return self.monitor.run_pass()


def _due(last: float | None, interval: float) -> bool:
    """Whether a periodic task that last ran at ``last`` (monotonic seconds; None = never) is due again."""
    return last is None or time.monotonic() - last >= interval


def _busy(platform: Platform, deployment_id: str) -> bool:
    active = (commander_jobs.JobState.QUEUED.value, commander_jobs.JobState.RUNNING.value)
    return any(j.state in active for j in commander_jobs.for_deployment(platform, deployment_id))


class WorkerHandle:
    """Workers running in background threads (``airpool serve``), each leasing its own jobs, so that one slow
    Deployment does not hold up the others; ``stop()`` returns once all have stopped."""

    def __init__(self, workers: list[Worker]) -> None:
        self.workers = workers
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=w.run, args=(self._stop,), name=f"commander-worker-{i}", daemon=True)
            for i, w in enumerate(workers)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def alive(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)


def start(
    platform: Platform, client: Client, *, concurrency: int = 4, settings: WorkerSettings | None = None
) -> WorkerHandle:
    """``concurrency`` workers sharing one client; only the first runs the periodic checks."""
    base = settings or WorkerSettings()
    workers = [
        Worker(platform, client, settings=base if i == 0 else dataclasses.replace(base, periodic=False))
        for i in range(max(concurrency, 1))
    ]
    return WorkerHandle(workers)
