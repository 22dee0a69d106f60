"""Where a Deployment stands, from what the cluster reports: deploying, healthy or unhealthy, with a message a
user can read.

Four label-selected lists (Deployments, StatefulSets, Jobs, Pods) per check, sent concurrently; the expected
workloads come from the manifests so that a workload not created yet counts as "not ready" rather than being
overlooked. Once every workload is ready, Airflow's own health endpoint (``/api/v2/monitor/health`` on Airflow 3,
``/health`` on 2.x) is read through the API server's service proxy with commander's identity: the Deployment is
``healthy`` only when Airflow itself reports its database, scheduler, triggerer (and DAG processor) healthy.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx2
from lightkube import ApiError, Client
from lightkube.resources.apps_v1 import Deployment, StatefulSet
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Pod

from airpool.commander import errors, kinds
from airpool.domain.deployments import DeploymentStatus
from airpool.kube import proxy
from airpool.manifests.airflow import common, gitsync, settings, workloads
from airpool.manifests.airflow.spec import AirflowSpec

#: Container states that do not heal by waiting.
FAILING_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)


@dataclass(frozen=True)
class StatusReport:
    status: DeploymentStatus
    message: str
    ready: int
    total: int


def _list(client: Client, resource: Any, spec: AirflowSpec) -> list[Any]:
    return list(client.list(resource, namespace=spec.namespace, labels=kinds.owned_by(spec.deployment_id)))


#: What git's and ssh's messages mean for a user, most specific first (git-sync's log carries them).
_GIT_SYNC_CAUSES = (
    ("Permission denied (publickey", "the git server refused the SSH key (check dagDeployment.sshKey)"),
    ("Host key verification failed", "the git server's host key is not in dagDeployment.knownHosts"),
    ("REMOTE HOST IDENTIFICATION HAS CHANGED", "the git server's host key does not match dagDeployment.knownHosts"),
    ("Could not resolve hostname", "the git server's host name does not resolve"),
    ("Could not resolve host", "the git server's host name does not resolve"),
    ("Connection refused", "the git server refused the connection"),
    ("Connection timed out", "the git server did not answer"),
    ("No route to host", "the git server cannot be reached"),
    ("does not appear to be a git repository", "there is no repository at dagDeployment.repositoryUrl"),
    ("Repository not found", "there is no repository at dagDeployment.repositoryUrl"),
    ("couldn't find remote ref", "the branch or rev does not exist in the repository"),
    ("not our ref", "the rev does not exist in the repository"),
    ("Authentication failed", "the git server refused the credentials"),
)


def _git_sync_text(message: str) -> str:
    """git-sync's last log lines (JSON lines from the public image; plain lines from others) as one line."""
    parts: list[str] = []
    for line in message.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if isinstance(entry, dict):
            text = " ".join(str(entry[k]) for k in ("msg", "error") if entry.get(k))
            parts.append(text.replace("\\r\\n", " ").replace("\\n", " "))
        else:
            parts.append(line)
    return " ".join(" ".join(parts).split())


def git_sync_problem(message: str, *, repository: str) -> str:
    """Why git-sync failed, from its termination message: a cause a user can act on, and git's own words."""
    text = _git_sync_text(message)
    cause = next((meaning for needle, meaning in _GIT_SYNC_CAUSES if needle in text), None)
    said = text if len(text) <= 300 else "..." + text[-297:]
    head = f"git-sync cannot fetch {repository}"
    if cause:
        return f"{head}: {cause}" + (f" ({said})" if said else "")
    return f"{head}: {said or 'it failed without saying why'}"


def _git_sync_failure(pod: Any, spec: AirflowSpec) -> str | None:
    """Why a pod's git-sync container failed: its termination (or, while it waits to restart, the last one) with
    a non-zero exit code."""
    if spec.dags.git is None or pod.status is None:
        return None
    for cs in (pod.status.initContainerStatuses or []) + (pod.status.containerStatuses or []):
        if cs.name not in gitsync.CONTAINERS:
            continue
        state, last = cs.state, cs.lastState
        ended = state.terminated if state and state.terminated else None
        if ended is None and state is not None and state.waiting is not None and last is not None:
            ended = last.terminated
        if ended is not None and ended.exitCode:
            return git_sync_problem(ended.message or "", repository=spec.dags.git.repository_url)
    return None


def _pod_problem(pod: Any) -> str | None:
    status = pod.status
    if status is None:
        return None
    owners = {o.kind for o in (pod.metadata.ownerReferences or [])}
    if status.phase == "Failed" and "Job" not in owners:  # a failed Job pod is judged through its Job
        return f"pod {pod.metadata.name} failed: {status.reason or status.message or 'Failed'}"
    for cs in (status.initContainerStatuses or []) + (status.containerStatuses or []):
        waiting = cs.state.waiting if cs.state else None
        if waiting is not None and waiting.reason in FAILING_REASONS:
            return f"pod {pod.metadata.name} container {cs.name}: {waiting.reason}"
    return None


def _workload_ready(obj: Any) -> bool:
    want = obj.spec.replicas if obj.spec.replicas is not None else 1
    st = obj.status
    if st is None:
        return False
    fresh = (st.observedGeneration or 0) >= (obj.metadata.generation or 0)
    return fresh and (st.readyReplicas or 0) >= want and (st.updatedReplicas or 0) >= want


def _job_state(job: Any) -> str:
    for cond in (job.status.conditions if job.status else None) or []:
        if cond.status == "True" and cond.type in ("Complete", "Failed"):
            return str(cond.type)
    return "Running"


#: Seconds one read of Airflow's health endpoint may take (a loaded node answers slowly).
HEALTH_TIMEOUT = 30.0
#: Follows "all N workloads ready" when the health endpoint is not read (``airpool.airflow.readHealthEndpoint:
#: false``), in words a data engineer reading ``deployment status`` or the UI understands: what healthy rests on,
#: what was not asked, why, and which setting decides it.
NOT_READ = (
    "their pods report ready, but Airflow itself was not asked whether it is healthy (values.yaml sets "
    "airpool.airflow.readHealthEndpoint: false, meant for simulated nodes where no Airflow runs)"
)


def expected_components(spec: AirflowSpec) -> tuple[str, ...]:
    """The components Airflow's health report must show healthy for this Deployment."""
    out = ["metadatabase", "scheduler", "triggerer"]
    if spec.airflow3:
        out.append("dag_processor")
    return tuple(out)


@dataclass(frozen=True)
class AirflowHealth:
    #: None: every expected component healthy.
    status: DeploymentStatus | None
    message: str


def judge_health(spec: AirflowSpec, report: Any) -> AirflowHealth:
    """Airflow's JSON report (``{"scheduler": {"status": "healthy", ...}, ...}``) against what the Deployment runs:
    a component reported unhealthy makes the Deployment unhealthy; one not reported yet keeps it deploying."""
    if not isinstance(report, dict):
        return AirflowHealth(DeploymentStatus.UNHEALTHY, f"Airflow's health endpoint answered {report!r}")
    bad: list[str] = []
    pending: list[str] = []
    for component in expected_components(spec):
        entry = report.get(component)
        if not isinstance(entry, dict):
            entry = {}
        state = entry.get("status")
        if state == "healthy":
            continue
        if state is None:
            pending.append(component)
        else:
            heartbeat = next((v for k, v in entry.items() if k.startswith("latest_") and v), None)
            bad.append(f"{component} {state}" + (f" (last heartbeat {heartbeat})" if heartbeat else ""))
    if bad:
        return AirflowHealth(DeploymentStatus.UNHEALTHY, "Airflow reports " + ", ".join(bad))
    if pending:
        return AirflowHealth(DeploymentStatus.DEPLOYING, "waiting for Airflow's " + ", ".join(pending) + " to report")
    return AirflowHealth(None, "Airflow reports " + ", ".join(expected_components(spec)) + " healthy")


def read_airflow_health(client: Client, spec: AirflowSpec) -> AirflowHealth:
    """GET the health endpoint through the API server's service proxy (``get services/proxy``)."""
    service = common.name(spec, workloads.webserver_component(spec))
    try:
        answer = proxy.service_get(
            client,
            namespace=spec.namespace,
            service=service,
            port=common.API_PORT,
            path=settings.health_path(spec),
            timeout=HEALTH_TIMEOUT,
        )
    except httpx2.TimeoutException:
        return AirflowHealth(
            DeploymentStatus.UNHEALTHY, f"Airflow's health endpoint did not answer within {HEALTH_TIMEOUT:.0f} s"
        )
    except httpx2.TransportError as exc:
        raise errors.TemporaryFailure(f"cannot reach the API server: {exc}") from exc
    where = f"service {service} in {spec.namespace}"
    if answer.status == 403:
        return AirflowHealth(
            DeploymentStatus.UNHEALTHY,
            f"commander may not read Airflow's health endpoint: it lacks get services/proxy (core) in namespace "
            f"{spec.namespace}",
        )
    if answer.status != 200:
        text = " ".join(answer.body.split())[:200]
        return AirflowHealth(
            DeploymentStatus.UNHEALTHY, f"Airflow's health endpoint ({where}) answered {answer.status}: {text}"
        )
    try:
        report = json.loads(answer.body)
    except ValueError:
        return AirflowHealth(DeploymentStatus.UNHEALTHY, f"Airflow's health endpoint ({where}) answered no JSON")
    return judge_health(spec, report)


def check(client: Client, spec: AirflowSpec, *, read_health_endpoint: bool = True) -> StatusReport:
    """One look at the cluster; raises ``ClusterRefused``/``TemporaryFailure`` when it cannot look.
    ``read_health_endpoint`` false (``airpool.airflow.readHealthEndpoint``): Kubernetes readiness alone."""
    kinds.warm_up_decoders()
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = [pool.submit(_list, client, res, spec) for res in (Deployment, StatefulSet, Job, Pod)]
            deployments, stateful_sets, jobs, pods = (f.result() for f in futures)
    except ApiError as exc:
        raise errors.from_api_error(exc) from exc
    expected = {(o["kind"], o["metadata"]["name"]) for o in workloads.all_workloads(spec) if o["kind"] != "CronJob"}
    found = {("Deployment", d.metadata.name): d for d in deployments}
    found.update({("StatefulSet", s.metadata.name): s for s in stateful_sets})
    found.update({("Job", j.metadata.name): j for j in jobs})

    problems: list[str] = []
    git_sync: dict[str, list[str]] = {}  # one line per cause, naming the pods (every DAG reader fails alike)
    for pod in pods:
        why = _git_sync_failure(pod, spec)
        if why:
            git_sync.setdefault(why, []).append(pod.metadata.name)
        elif problem := _pod_problem(pod):
            problems.append(problem)
    problems = [f"{why} (pods: {', '.join(sorted(names))})" for why, names in git_sync.items()] + problems
    waiting: list[str] = []
    for key in sorted(expected):
        kind, name = key
        obj = found.get(key)
        if obj is None:
            waiting.append(f"{kind} {name} not created yet")
        elif kind == "Job":
            state = _job_state(obj)
            if state == "Failed":
                problems.append(f"Job {name} failed")
            elif state != "Complete":
                waiting.append(f"Job {name} running")
        elif not _workload_ready(obj):
            ready = (obj.status.readyReplicas or 0) if obj.status else 0
            waiting.append(f"{kind} {name} {ready}/{obj.spec.replicas or 1} ready")
    total = len(expected)
    ready_count = total - len(waiting) - sum(1 for p in problems if p.startswith("Job "))
    if problems:
        return StatusReport(DeploymentStatus.UNHEALTHY, "; ".join(problems), ready_count, total)
    if waiting:
        return StatusReport(DeploymentStatus.DEPLOYING, "waiting for " + "; ".join(waiting), ready_count, total)
    ready = f"all {total} workloads ready"
    if not read_health_endpoint:
        return StatusReport(DeploymentStatus.HEALTHY, f"{ready}: {NOT_READ}", total, total)
    airflow = read_airflow_health(client, spec)
    if airflow.status is not None:
        return StatusReport(airflow.status, f"{ready}, but {airflow.message}", total, total)
    return StatusReport(DeploymentStatus.HEALTHY, f"{ready}; {airflow.message}", total, total)
