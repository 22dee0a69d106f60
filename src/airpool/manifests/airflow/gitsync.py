"""git-sync DAG deploys: a git-sync v4 container beside every component that reads DAG files.

The components that parse or run DAGs (scheduler, DAG processor, Celery workers, triggerer, and the
KubernetesExecutor's task pods) get an ``emptyDir`` volume ``dags`` mounted read-only at the DAGs folder. An init
container (``git-sync-init``, ``--one-time``) fills it before Airflow starts, so a pod never parses an empty folder,
and a sidecar (``git-sync``) keeps it current every ``syncInterval`` seconds; task pods only get the init container
(they live for one task). New credentials roll the pods (they are part of the settings checksum, ``render``):
a Secret mounted by subPath is never updated in a running pod. git-sync publishes each commit as a new worktree
and swaps the symlink ``repo`` to it atomically, so Airflow reads ``/opt/airflow/dags/repo/<dagDirectoryLocation>``
and never sees a half-written checkout. A failed fetch ends the container at once (``GITSYNC_MAX_FAILURES`` 0), the
sidecar's too after good syncs, so a sync that starts failing shows in the Deployment's status at commander's next
check instead of after several periods.

The containers speak git-sync v4's environment (``GITSYNC_*``), so the public image (``registry.k8s.io/git-sync/
git-sync``, ``airpool.images.gitSync``) runs them unchanged. Their termination message falls back to the last log
lines when they fail: that is what commander reads to say why a sync fails (a refused key, an unknown host key, an
unreachable server), see ``commander.status``.
"""

from __future__ import annotations

from airpool.manifests.airflow import common as c
from airpool.manifests.airflow.spec import AirflowSpec, DagSource

VOLUME = "dags"
SECRET_VOLUME = "git-sync-ssh"
#: Where git-sync keeps its checkouts; the airflow containers mount the same volume at the DAGs folder.
ROOT = "/git"
LINK = "repo"
SECRET_DIR = "/etc/git-secret"
SSH_KEY_ITEM = "gitSshKey"
KNOWN_HOSTS_ITEM = "knownHosts"
#: The public git-sync image's own user (65533); files it writes are world-readable, so Airflow's user reads them.
GIT_SYNC_UID = 65533
INIT_CONTAINER = "git-sync-init"
SIDECAR = "git-sync"
CONTAINERS = frozenset({INIT_CONTAINER, SIDECAR})
#: Components that read DAG files (the API server and Flower do not).
COMPONENTS = frozenset({"scheduler", "dag-processor", "worker", "triggerer"})


def enabled(spec: AirflowSpec) -> bool:
    return spec.dags.source is DagSource.GIT_SYNC and spec.dags.git is not None


def uses(spec: AirflowSpec, component: str) -> bool:
    return enabled(spec) and component in COMPONENTS


def secret_name(spec: AirflowSpec) -> str:
    return c.name(spec, "git-sync-ssh")


def dags_folder(spec: AirflowSpec) -> str:
    """Airflow's ``dags_folder``: the published checkout (through the ``repo`` link) and the DAG directory in it."""
    assert spec.dags.git is not None
    sub = spec.dags.git.dag_directory_location.strip("/")
    return f"{c.DAGS_FOLDER}/{LINK}" + (f"/{sub}" if sub else "")


def secret_objects(spec: AirflowSpec) -> list[c.Obj]:
    """The SSH key and known hosts, when the Deployment uses SSH."""
    git = spec.dags.git
    if not enabled(spec) or git is None or not git.ssh:
        return []
    data = {SSH_KEY_ITEM: spec.git_ssh_key}
    if git.known_hosts:
        data[KNOWN_HOSTS_ITEM] = spec.git_known_hosts
    return [c.secret(spec, secret_name(spec), data, "git-sync")]


def _env(spec: AirflowSpec, *, one_time: bool) -> list[c.Obj]:
    git = spec.dags.git
    assert git is not None
    env = [
        {"name": "GITSYNC_REPO", "value": git.repository_url},
        {"name": "GITSYNC_REF", "value": git.ref},
        {"name": "GITSYNC_ROOT", "value": ROOT},
        {"name": "GITSYNC_LINK", "value": LINK},
        {"name": "GITSYNC_DEPTH", "value": "1"},
        {"name": "GITSYNC_PERIOD", "value": f"{git.sync_interval}s"},
        # A passwd entry for the container's user (ssh refuses to run without one).
        {"name": "GITSYNC_ADD_USER", "value": "true"},
        # The first failed fetch ends the container (git-sync's default), which says why in its termination
        # message: commander names the cause at its next status check, also when an earlier sync was good. The
        # kubelet restarts the sidecar; its emptyDir keeps the last good checkout, which Airflow goes on reading.
        {"name": "GITSYNC_MAX_FAILURES", "value": "0"},
    ]
    if one_time:
        env.append({"name": "GITSYNC_ONE_TIME", "value": "true"})
    if git.ssh:
        env.append({"name": "GITSYNC_SSH_KEY_FILE", "value": f"{SECRET_DIR}/ssh"})
        env.append({"name": "GITSYNC_SSH_KNOWN_HOSTS", "value": "true" if git.known_hosts else "false"})
        if git.known_hosts:
            env.append({"name": "GITSYNC_SSH_KNOWN_HOSTS_FILE", "value": f"{SECRET_DIR}/known_hosts"})
    return env


def container(spec: AirflowSpec, *, one_time: bool) -> c.Obj:
    git = spec.dags.git
    assert git is not None
    mounts: list[c.Obj] = [{"name": VOLUME, "mountPath": ROOT}]
    if git.ssh:
        mounts.append(
            {"name": SECRET_VOLUME, "mountPath": f"{SECRET_DIR}/ssh", "subPath": SSH_KEY_ITEM, "readOnly": True}
        )
        if git.known_hosts:
            mounts.append(
                {
                    "name": SECRET_VOLUME,
                    "mountPath": f"{SECRET_DIR}/known_hosts",
                    "subPath": KNOWN_HOSTS_ITEM,
                    "readOnly": True,
                }
            )
    return {
        "name": INIT_CONTAINER if one_time else SIDECAR,
        **c.image_fields(spec.images.git_sync),
        "env": _env(spec, one_time=one_time),
        "volumeMounts": mounts,
        "securityContext": {"runAsUser": GIT_SYNC_UID, "runAsGroup": GIT_SYNC_UID, "allowPrivilegeEscalation": False},
        # On failure the last log lines become the termination message: commander reads why the sync failed.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "resources": c.resources(memory="32Mi", cpu_limit="500m", memory_limit="512Mi"),
    }


def volumes(spec: AirflowSpec) -> list[c.Obj]:
    git = spec.dags.git
    assert git is not None
    out: list[c.Obj] = [{"name": VOLUME, "emptyDir": {}}]
    if git.ssh:
        # 0440: readable by the pod's group; ssh accepts a key file it does not own only if others cannot read it.
        out.append({"name": SECRET_VOLUME, "secret": {"secretName": secret_name(spec), "defaultMode": 0o440}})
    return out


def dags_mount() -> c.Obj:
    return {"name": VOLUME, "mountPath": c.DAGS_FOLDER, "readOnly": True}


def add_to_pod(spec: AirflowSpec, pod: c.Obj, *, sidecar: bool) -> None:
    """Give a pod spec (``containers[0]`` is the Airflow container) the DAGs volume, the init container and, for
    long-running components, the sidecar."""
    pod["volumes"] = [*pod.get("volumes", []), *volumes(spec)]
    pod["containers"][0]["volumeMounts"] = [*pod["containers"][0].get("volumeMounts", []), dags_mount()]
    pod["initContainers"] = [container(spec, one_time=True), *pod.get("initContainers", [])]
    if sidecar:
        pod["containers"] = [*pod["containers"], container(spec, one_time=False)]
