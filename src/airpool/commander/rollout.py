"""The first half of an Airflow upgrade or image deploy: the new image's database migration, run as the
Deployment's migration Job while the old version keeps running.

Only what the Job needs is applied first (its ServiceAccount, the Secrets and ConfigMaps); the Airflow components
are rolled afterwards by the ordinary install, and only once the Job completed. A Job that fails, a container
that cannot start (an image that cannot be pulled, a crashing migration) or the time limit
(``airpool.airflow.upgradeTimeoutSeconds``) end the rollout with ``MigrationFailed``: the caller then re-applies
the old version's objects, so the old version goes on running.

Re-running after a crash is safe: the Job is named per Deployment and re-applied with the same template, so a
migration that already completed is not run again (server-side apply leaves a finished Job as it is).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from lightkube import ApiError, Client
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Event, Pod

from airpool.commander import database, errors, install, kinds, preflight, secretstore, status
from airpool.manifests.airflow import common, render
from airpool.manifests.airflow.spec import AirflowSpec

#: What the migration Job needs in place before it starts.
_BEFORE_JOB = frozenset({"ServiceAccount", "Secret", "ConfigMap"})
#: Reasons a container does not start that mean the image itself is the problem (or the migration crashes).
FAILING = status.FAILING_REASONS | {"ErrImageNeverPull"}
MIGRATION_COMPONENT = "run-airflow-migrations"


class MigrationFailed(Exception):
    """The new version's migration did not complete; the message says why (for the Deployment's page)."""


def job_name(spec: AirflowSpec) -> str:
    return common.name(spec, MIGRATION_COMPONENT)


def _job_pods(client: Client, spec: AirflowSpec) -> list[Any]:
    name = job_name(spec)
    return [
        p
        for p in client.list(Pod, namespace=spec.namespace, labels=kinds.owned_by(spec.deployment_id))
        if p.metadata is not None
        and any(o.kind == "Job" and o.name == name for o in (p.metadata.ownerReferences or []))
    ]


def _container_problem(pod: Any) -> str | None:
    st = pod.status
    if st is None:
        return None
    for cs in (st.initContainerStatuses or []) + (st.containerStatuses or []):
        waiting = cs.state.waiting if cs.state else None
        if waiting is not None and waiting.reason in FAILING:
            said = f": {waiting.message}" if waiting.message else ""
            ended = cs.lastState.terminated if cs.lastState else None
            if ended is not None and ended.exitCode:
                said += f" (last run exited {ended.exitCode}{': ' + ended.reason if ended.reason else ''})"
            return f"container {cs.name} of pod {pod.metadata.name}: {waiting.reason}{said}"
    return None


def _refused_pod(client: Client, spec: AirflowSpec, job: Any) -> str | None:
    """The API server's refusal of the Job's pod (quota, admission policy), from the Job's ``FailedCreate``
    events: the Job controller retries such a pod forever, so waiting would only run into the time limit.
    Events commander may not read are skipped (the time limit still ends the wait)."""
    uid = job.metadata.uid if job.metadata else None
    try:
        events = client.list(
            Event,
            namespace=spec.namespace,
            fields={"involvedObject.kind": "Job", "involvedObject.name": job_name(spec), "reason": "FailedCreate"},
        )
        for event in events:
            if event.involvedObject.uid == uid:
                return str(event.message or "pod creation refused")
    except ApiError:
        return None
    return None


def _job_condition(job: Any) -> tuple[str, str] | None:
    for cond in (job.status.conditions if job.status else None) or []:
        if cond.status == "True" and cond.type in ("Complete", "Failed"):
            return str(cond.type), str(cond.message or cond.reason or "")
    return None


def migrate(
    client: Client,
    spec: AirflowSpec,
    *,
    manage_namespace: bool,
    pool_enabled: bool,
    cluster_roles: bool,
    database_admin_url: str | None,
    timeout: float,
    fence: install.Fence,
    progress: Callable[[str], None],
    interval: float = 2.0,
) -> float:
    """Apply what the new version's migration Job needs and the Job, and wait until it completed; returns its
    seconds. Raises ``MigrationFailed`` (the old version still runs), or the install's own errors."""
    started = time.monotonic()
    fence()
    secrets = secretstore.load_or_generate(client, spec)
    preflight.check(
        client, spec, manage_namespace=manage_namespace, pool_enabled=pool_enabled, cluster_roles=cluster_roles
    )
    if database_admin_url is not None and spec.external_database is not None:
        database.ensure(database_admin_url, spec.external_database, password=secrets.db_password)
    objects = render.render(spec, secrets)
    name = job_name(spec)
    first = [o for o in objects if o["kind"] in _BEFORE_JOB]
    job = [o for o in objects if o["kind"] == "Job" and o["metadata"]["name"] == name]
    install.apply_all(client, first, fence=fence)
    install.apply_all(client, job, fence=fence)
    deadline = started + timeout
    last = ""
    while True:
        fence()
        try:
            found = client.get(Job, name, namespace=spec.namespace)
            pods = _job_pods(client, spec)
        except ApiError as exc:
            raise errors.from_api_error(exc) from exc
        condition = _job_condition(found)
        if condition is not None and condition[0] == "Complete":
            return time.monotonic() - started
        if condition is not None:
            raise MigrationFailed(f"the migration Job {name} failed: {condition[1] or 'Failed'}")
        problems = [p for p in (_container_problem(pod) for pod in pods) if p]
        refused = _refused_pod(client, spec, found) if not pods else None
        if refused:
            problems.append(f"its pod is refused: {refused}")
        if problems:
            raise MigrationFailed(f"the migration Job {name} cannot run: {problems[0]}")
        if time.monotonic() > deadline:
            raise MigrationFailed(
                f"the migration Job {name} did not complete within {timeout:.0f} s "
                "(airpool.airflow.upgradeTimeoutSeconds)"
            )
        phases = ", ".join(f"{p.metadata.name} {p.status.phase if p.status else '?'}" for p in pods) or "no pod yet"
        now = f"running the database migration of Airflow {spec.airflow_version} ({phases})"
        if now != last:
            progress(now)
            last = now
        time.sleep(interval)
