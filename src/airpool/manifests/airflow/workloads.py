"""Pods of an Airflow Deployment: the Airflow components, their helpers (statsd, PgBouncer, Redis, PostgreSQL),
the migration Job and the cleanup CronJob.

Every Airflow pod waits for the migrations before starting (init container), so the workloads can be applied in
parallel with the migration Job instead of after it.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from airpool.domain.deployments import Executor
from airpool.domain.sizes import ComponentSize
from airpool.manifests.airflow import common as c
from airpool.manifests.airflow import gitsync, settings
from airpool.manifests.airflow.spec import AirflowSpec, DagSource

CONFIG_VOLUME = "config"
DAGS_VOLUME = "dags"
LOGS_VOLUME = "logs"
AUTH_VOLUME = "auth"
AUTH_SECRET_VOLUME = "auth-secret"


def webserver_component(spec: AirflowSpec) -> str:
    """Airflow 3 serves the UI and REST API from ``api-server``; 2.x from ``webserver``."""
    return "api-server" if spec.airflow3 else "webserver"


def airflow_components(spec: AirflowSpec) -> list[str]:
    """Long-running Airflow processes, each a Deployment of its own."""
    out = ["scheduler", webserver_component(spec), "triggerer"]
    if spec.airflow3:
        out.append("dag-processor")
    if spec.executor is Executor.CELERY:
        out += ["worker", "flower"]
    return out


def service_account_components(spec: AirflowSpec) -> list[str]:
    out = [*airflow_components(spec), "statsd", "pgbouncer", "migrate-database-job"]
    if spec.executor is Executor.KUBERNETES:
        out.append("worker")  # the task pods launched by the scheduler run as the worker account
        out.append("cleanup")
    if spec.executor is Executor.CELERY:
        out.append("redis")
    if spec.external_database is None:
        out.append("postgresql")
    return out


def _mounts_dags(spec: AirflowSpec, component: str) -> bool:
    return spec.dags.source is DagSource.NFS and component in {"scheduler", "dag-processor", "worker"}


def shares_log_volume(spec: AirflowSpec) -> bool:
    """KubernetesExecutor task pods are deleted when they end: their logs live on a volume the API server reads."""
    return spec.executor is Executor.KUBERNETES and spec.logs_persistence.enabled


def logs_claim_name(spec: AirflowSpec) -> str:
    return c.name(spec, "logs")


def postgresql_claim_name(spec: AirflowSpec) -> str:
    return c.name(spec, "postgresql-data")


def _env(spec: AirflowSpec) -> list[c.Obj]:
    env = [
        c.secret_env("AIRFLOW__CORE__FERNET_KEY", settings.fernet_secret_name(spec), "fernet-key"),
        c.secret_env("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", settings.metadata_secret_name(spec), "connection"),
        c.secret_env("AIRFLOW_CONN_AIRFLOW_DB", settings.metadata_secret_name(spec), "connection"),
    ]
    section = "API" if spec.airflow3 else "WEBSERVER"
    env.append(
        c.secret_env(f"AIRFLOW__{section}__SECRET_KEY", settings.webserver_secret_name(spec), "webserver-secret-key")
    )
    if spec.airflow3:
        env.append(c.secret_env("AIRFLOW__API_AUTH__JWT_SECRET", settings.jwt_secret_name(spec), "jwt-secret"))
    if spec.executor is Executor.CELERY:
        env.append(c.secret_env("AIRFLOW__CELERY__BROKER_URL", settings.broker_secret_name(spec), "connection"))
    return env


def _extra(spec: AirflowSpec) -> tuple[list[c.Obj], list[c.Obj]]:
    return [json.loads(v) for v in spec.extra_volumes], [json.loads(m) for m in spec.extra_volume_mounts]


def _volumes(spec: AirflowSpec, component: str) -> tuple[list[c.Obj], list[c.Obj]]:
    logs: c.Obj = (
        {"persistentVolumeClaim": {"claimName": logs_claim_name(spec)}} if shares_log_volume(spec) else {"emptyDir": {}}
    )
    volumes: list[c.Obj] = [
        {"name": CONFIG_VOLUME, "configMap": {"name": c.name(spec, "config")}},
        {"name": LOGS_VOLUME, **logs},
    ]
    mounts: list[c.Obj] = [
        {
            "name": CONFIG_VOLUME,
            "mountPath": f"{c.AIRFLOW_HOME}/airflow.cfg",
            "subPath": "airflow.cfg",
            "readOnly": True,
        },
        {"name": LOGS_VOLUME, "mountPath": f"{c.AIRFLOW_HOME}/logs"},
    ]
    if spec.executor is Executor.KUBERNETES and component == "scheduler":
        mounts.append(
            {
                "name": CONFIG_VOLUME,
                "mountPath": f"{c.AIRFLOW_HOME}/pod_templates/pod_template_file.yaml",
                "subPath": "pod_template_file.yaml",
                "readOnly": True,
            }
        )
    if component == "webserver":
        volumes.append({"name": "webserver-config", "configMap": {"name": c.name(spec, "webserver-config")}})
        mounts.append(
            {
                "name": "webserver-config",
                "mountPath": f"{c.AIRFLOW_HOME}/webserver_config.py",
                "subPath": "webserver_config.py",
                "readOnly": True,
            }
        )
    if component == "api-server":
        volumes.append({"name": AUTH_VOLUME, "emptyDir": {}})
        volumes.append(
            {
                "name": AUTH_SECRET_VOLUME,
                "secret": {
                    "secretName": settings.admin_secret_name(spec),
                    "items": [{"key": "passwords.json", "path": "passwords.json"}],
                },
            }
        )
        mounts.append({"name": AUTH_VOLUME, "mountPath": f"{c.AIRFLOW_HOME}/auth"})
    if _mounts_dags(spec, component):
        volumes.append(
            {"name": DAGS_VOLUME, "persistentVolumeClaim": {"claimName": c.name(spec, "dags"), "readOnly": True}}
        )
        mounts.append({"name": DAGS_VOLUME, "mountPath": c.DAGS_FOLDER, "readOnly": True})
    if component in _EXTRA_VOLUME_COMPONENTS:
        extra_volumes, extra_mounts = _extra(spec)
        volumes += extra_volumes
        mounts += extra_mounts
    return volumes, mounts


#: Components that run or parse DAGs (and so see the admin's extra volumes); the helpers do not.
_EXTRA_VOLUME_COMPONENTS = frozenset(
    {"scheduler", "api-server", "webserver", "triggerer", "dag-processor", "worker", "flower"}
)

_COMMANDS = {
    "scheduler": ["airflow", "scheduler"],
    "api-server": ["airflow", "api-server"],
    "webserver": ["airflow", "webserver"],
    "triggerer": ["airflow", "triggerer"],
    "dag-processor": ["airflow", "dag-processor"],
    "worker": ["airflow", "celery", "worker"],
    "flower": ["airflow", "celery", "flower"],
}

_PORTS = {
    "api-server": [("api", c.API_PORT)],
    "webserver": [("api", c.API_PORT)],
    "triggerer": [("triggerer-logs", c.TRIGGERER_LOG_PORT)],
    "worker": [("worker-logs", c.WORKER_LOG_PORT)],
    "flower": [("flower-ui", c.FLOWER_PORT)],
}

#: Memory limits that fit what each process really takes (Airflow 3.3 on the dev node: API server with two
#: workers ~700 MiB, a Celery worker at concurrency 8 under 1.5 GiB, a LocalExecutor scheduler running tasks
#: ~1 GiB); requests stay small so a small cluster can still place a Deployment.
_MEMORY_LIMITS = {
    "scheduler": "1Gi",
    "api-server": "1536Mi",
    "webserver": "1536Mi",
    "triggerer": "1Gi",
    "dag-processor": "1Gi",
    "worker": "2Gi",
    "flower": "768Mi",
}


def airflow_ports(spec: AirflowSpec, component: str) -> list[tuple[str, int]]:
    out = list(_PORTS.get(component, []))
    if component == "scheduler":
        out.append(("health", c.SCHEDULER_HEALTH_PORT))
        if spec.executor is Executor.LOCAL:
            out.insert(0, ("worker-logs", c.WORKER_LOG_PORT))  # the scheduler runs the tasks and serves their logs
    return out


#: Houston's name (the ``config`` payload's key) of each component a user may size.
HOUSTON_NAMES = {
    "scheduler": "scheduler",
    "api-server": "webserver",
    "webserver": "webserver",
    "worker": "workers",
    "triggerer": "triggerer",
}


def component_size(spec: AirflowSpec, component: str) -> ComponentSize | None:
    name = HOUSTON_NAMES.get(component)
    return spec.size(name) if name else None


def _sized(size: ComponentSize) -> c.Obj:
    return c.resources(
        cpu=size.requests.cpu,
        memory=size.requests.memory,
        cpu_limit=size.limits.cpu,
        memory_limit=size.limits.memory,
    )


def replicas(spec: AirflowSpec, component: str) -> int:
    size = component_size(spec, component)
    return size.replicas if size is not None else 1


def airflow_resources(spec: AirflowSpec, component: str) -> c.Obj:
    size = component_size(spec, component)
    if size is not None:
        return _sized(size)
    limit = _MEMORY_LIMITS.get(component, "1Gi")
    if component == "scheduler" and spec.executor is Executor.LOCAL:
        limit = "2Gi"
    return c.resources(cpu="50m", memory="128Mi", cpu_limit="1", memory_limit=limit)


# -- probes: Kubernetes' readiness follows Airflow's own view of each process -----------------------------------


def _http(path: str, port: int) -> c.Obj:
    return {"httpGet": {"path": path, "port": port}}


def _tcp(port: int) -> c.Obj:
    return {"tcpSocket": {"port": port}}


def _exec(*command: str) -> c.Obj:
    return {"exec": {"command": list(command)}}


def _jobs_check(job_type: str) -> c.Obj:
    """``airflow jobs check`` for this pod's own job (its hostname is its IP, see ``hostname_callable``)."""
    return _exec("airflow", "jobs", "check", "--job-type", job_type, "--local")


def _probes(startup: c.Obj, *, ready: c.Obj | None = None, live: c.Obj | None = None) -> c.Obj:
    """Startup waits up to 15 minutes (a loaded node imports Airflow slowly) on a cheap check (HTTP or a port);
    readiness repeats a cheap check; liveness restarts a process only after several failed looks. An exec probe
    (``live``: a whole Airflow CLI start, ~30 s of CPU on a loaded node) runs every 5 minutes only, so probes do
    not eat the node they watch."""
    out: c.Obj = {
        "startupProbe": {**startup, "periodSeconds": 10, "timeoutSeconds": 20, "failureThreshold": 90},
        "readinessProbe": {**(ready or startup), "periodSeconds": 15, "timeoutSeconds": 20, "failureThreshold": 4},
    }
    if live is None:
        out["livenessProbe"] = {**startup, "periodSeconds": 30, "timeoutSeconds": 20, "failureThreshold": 5}
    else:
        out["livenessProbe"] = {**live, "periodSeconds": 300, "timeoutSeconds": 120, "failureThreshold": 3}
    return out


def airflow_probes(spec: AirflowSpec, component: str) -> c.Obj:
    if component in ("api-server", "webserver"):
        return _probes(_http(settings.health_path(spec), c.API_PORT))
    if component == "scheduler":
        return _probes(_http("/health", c.SCHEDULER_HEALTH_PORT))
    if component == "triggerer":
        return _probes(_tcp(c.TRIGGERER_LOG_PORT), live=_jobs_check("TriggererJob"))
    if component == "dag-processor":
        # It serves nothing: liveness asks Airflow whether its job heartbeats (Airflow's health endpoint, read by
        # commander, reports the same for the Deployment's status).
        return {
            "livenessProbe": {
                **_jobs_check("DagProcessorJob"),
                "initialDelaySeconds": 600,
                "periodSeconds": 300,
                "timeoutSeconds": 120,
                "failureThreshold": 3,
            }
        }
    if component == "worker":
        ping = _exec(
            "sh",
            "-c",
            "exec celery --app airflow.providers.celery.executors.celery_executor.app inspect ping "
            '-d "celery@$(hostname)" --timeout 60',
        )
        return _probes(_tcp(c.WORKER_LOG_PORT), live=ping)
    if component == "flower":
        return _probes(_tcp(c.FLOWER_PORT))
    return {}


def _init_container(spec: AirflowSpec, name: str, args: list[str], mounts: list[c.Obj]) -> c.Obj:
    return {
        "name": name,
        **c.image_fields(spec.images.airflow, spec.airflow_version),
        "args": args,
        "env": _env(spec),
        "volumeMounts": mounts,
        "resources": c.resources(memory="128Mi", cpu_limit="1", memory_limit="768Mi"),
    }


def airflow_pod_spec(spec: AirflowSpec, component: str, command: list[str], *, wait_for_migrations: bool) -> c.Obj:
    volumes, mounts = _volumes(spec, component)
    container: c.Obj = {
        "name": component,
        **c.image_fields(spec.images.airflow, spec.airflow_version),
        "args": command,
        # The user's variables first: airpool's own ``env`` entries win over them (Kubernetes' precedence).
        "envFrom": [{"secretRef": {"name": settings.env_secret_name(spec)}}],
        "env": _env(spec),
        "volumeMounts": mounts,
        "resources": airflow_resources(spec, component),
    }
    ports = airflow_ports(spec, component)
    if ports:
        container["ports"] = [{"name": n, "containerPort": p} for n, p in ports]
    container.update(airflow_probes(spec, component))
    if component == "api-server":
        container["env"] = [
            *container["env"],
            {"name": "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", "value": settings.SIMPLE_AUTH_PASSWORDS_FILE},
        ]
    if not spec.airflow3 and component in settings.AIRFLOW2_FORKING_COMPONENTS:
        container["env"] = [*container["env"], settings.AIRFLOW2_NO_POOL]
    pod: c.Obj = {
        "serviceAccountName": c.sa_name(spec, "worker" if component == "worker" else component),
        "securityContext": {"runAsUser": c.AIRFLOW_UID, "fsGroup": 0},
        "containers": [container],
        "volumes": volumes,
    }
    if spec.images.pull_secret:
        pod["imagePullSecrets"] = c.pull_secrets(spec)
    init: list[c.Obj] = []
    if wait_for_migrations:
        config_mount = [m for m in mounts if m["name"] == CONFIG_VOLUME][:1]
        init.append(
            _init_container(
                spec,
                "wait-for-airflow-migrations",
                ["airflow", "db", "check-migrations", "--migration-wait-timeout=900"],
                config_mount,
            )
        )
    if component == "api-server":
        # The simple auth manager opens its passwords file for writing: give it a copy on an emptyDir.
        copy = {
            "name": "copy-auth-passwords",
            **c.image_fields(spec.images.airflow, spec.airflow_version),
            "command": ["cp", "/auth-secret/passwords.json", settings.SIMPLE_AUTH_PASSWORDS_FILE],
            "volumeMounts": [
                {"name": AUTH_SECRET_VOLUME, "mountPath": "/auth-secret", "readOnly": True},
                {"name": AUTH_VOLUME, "mountPath": f"{c.AIRFLOW_HOME}/auth"},
            ],
            "resources": c.resources(),
        }
        init.append(copy)
    if init:
        pod["initContainers"] = init
    if gitsync.uses(spec, component):
        gitsync.add_to_pod(spec, pod, sidecar=True)
    return pod


def _template(spec: AirflowSpec, component: str, pod: c.Obj) -> c.Obj:
    return {"metadata": {"labels": c.labels(spec, component)}, "spec": pod}


def deployment(spec: AirflowSpec, component: str, pod: c.Obj) -> c.Obj:
    return c.obj(
        "apps/v1",
        "Deployment",
        c.meta(spec, c.name(spec, component), component),
        spec={
            "replicas": replicas(spec, component),
            "revisionHistoryLimit": 2,
            "selector": {"matchLabels": c.selector_labels(spec, component)},
            "template": _template(spec, component, pod),
        },
    )


def stateful_set(spec: AirflowSpec, component: str, pod: c.Obj) -> c.Obj:
    return c.obj(
        "apps/v1",
        "StatefulSet",
        c.meta(spec, c.name(spec, component), component),
        spec={
            "replicas": 1,
            "serviceName": c.name(spec, component),
            "selector": {"matchLabels": c.selector_labels(spec, component)},
            "template": _template(spec, component, pod),
        },
    )


def worker_pod_template(spec: AirflowSpec) -> c.Obj:
    """The KubernetesExecutor's template for task pods (stored in the config ConfigMap)."""
    pod = airflow_pod_spec(spec, "worker", ["airflow", "version"], wait_for_migrations=False)
    base = pod["containers"][0]
    base["name"] = "base"
    pod["containers"] = [base]  # a task pod lives for one task: git-sync's init container alone fills its DAGs
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        base.pop(probe, None)  # a task pod runs one task and ends
    base.pop("ports", None)
    workers = spec.size("workers")
    base["resources"] = (
        _sized(workers)
        if workers is not None
        else c.resources(cpu="50m", memory="128Mi", cpu_limit="1", memory_limit="1Gi")
    )
    pod["restartPolicy"] = "Never"
    if spec.dags.source is DagSource.NFS:
        pod["volumes"].append(
            {"name": DAGS_VOLUME, "persistentVolumeClaim": {"claimName": c.name(spec, "dags"), "readOnly": True}}
        )
        base["volumeMounts"].append({"name": DAGS_VOLUME, "mountPath": c.DAGS_FOLDER, "readOnly": True})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": c.labels(spec, "worker")}, "spec": pod}


def airflow_workloads(spec: AirflowSpec) -> list[c.Obj]:
    return [
        deployment(spec, comp, airflow_pod_spec(spec, comp, _COMMANDS[comp], wait_for_migrations=True))
        for comp in airflow_components(spec)
    ]


def _helper_pod(spec: AirflowSpec, component: str, containers: list[c.Obj], volumes: list[c.Obj]) -> c.Obj:
    pod: c.Obj = {"serviceAccountName": c.sa_name(spec, component), "containers": containers, "volumes": volumes}
    if spec.images.pull_secret:
        pod["imagePullSecrets"] = c.pull_secrets(spec)
    return pod


def _cheap_probes(action: c.Obj) -> c.Obj:
    return {
        "readinessProbe": {**action, "periodSeconds": 10, "timeoutSeconds": 10, "failureThreshold": 3},
        "livenessProbe": {**action, "periodSeconds": 30, "timeoutSeconds": 10, "failureThreshold": 5},
    }


def statsd(spec: AirflowSpec) -> c.Obj:
    container = {
        "name": "statsd",
        **c.image_fields(spec.images.statsd),
        "args": ["--statsd.mapping-config=/etc/statsd-exporter/mappings.yml"],
        "ports": [
            {"name": "statsd-ingest", "containerPort": c.STATSD_INGEST_PORT, "protocol": "UDP"},
            {"name": "statsd-scrape", "containerPort": c.STATSD_SCRAPE_PORT},
        ],
        "volumeMounts": [{"name": "mappings", "mountPath": "/etc/statsd-exporter", "readOnly": True}],
        "resources": c.resources(),
        **_cheap_probes(_http("/metrics", c.STATSD_SCRAPE_PORT)),
    }
    volumes = [{"name": "mappings", "configMap": {"name": c.name(spec, "statsd")}}]
    return deployment(spec, "statsd", _helper_pod(spec, "statsd", [container], volumes))


def pgbouncer(spec: AirflowSpec) -> c.Obj:
    containers: list[c.Obj] = [
        {
            "name": "pgbouncer",
            **c.image_fields(spec.images.pgbouncer),
            "command": ["pgbouncer", "-u", "nobody", "/etc/pgbouncer/pgbouncer.ini"],
            "ports": [{"name": "pgbouncer", "containerPort": c.PGBOUNCER_PORT}],
            "volumeMounts": [{"name": "config", "mountPath": "/etc/pgbouncer", "readOnly": True}],
            "resources": c.resources(),
            **_cheap_probes(_tcp(c.PGBOUNCER_PORT)),
        }
    ]
    if spec.images.pgbouncer_exporter is not None:
        containers.append(
            {
                "name": "metrics-exporter",
                **c.image_fields(spec.images.pgbouncer_exporter),
                "env": [
                    c.secret_env("DATABASE_URL", c.name(spec, "pgbouncer-stats"), "connection"),
                    {"name": "PGBOUNCER_EXPORTER_PORT", "value": str(c.PGBOUNCER_METRICS_PORT)},
                ],
                "ports": [{"name": "metrics", "containerPort": c.PGBOUNCER_METRICS_PORT}],
                "resources": c.resources(),
                **_cheap_probes(_tcp(c.PGBOUNCER_METRICS_PORT)),
            }
        )
    volumes = [{"name": "config", "secret": {"secretName": c.name(spec, "pgbouncer-config")}}]
    return deployment(spec, "pgbouncer", _helper_pod(spec, "pgbouncer", containers, volumes))


def redis(spec: AirflowSpec) -> c.Obj:
    ping = _exec("sh", "-c", 'redis-cli -a "$REDIS_PASSWORD" --no-auth-warning ping | grep -q PONG')
    container = {
        "name": "redis",
        **c.image_fields(spec.images.redis),
        "command": ["/bin/sh", "-c", 'exec redis-server --requirepass "$REDIS_PASSWORD"'],
        "env": [c.secret_env("REDIS_PASSWORD", settings.redis_secret_name(spec), "password")],
        "ports": [{"name": "redis-db", "containerPort": c.REDIS_PORT}],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        "resources": c.resources(),
        **_cheap_probes(ping),
    }
    return stateful_set(spec, "redis", _helper_pod(spec, "redis", [container], [{"name": "data", "emptyDir": {}}]))


def postgresql(spec: AirflowSpec) -> c.Obj:
    """In-namespace metadata database (not for production: no backups, one replica). Its data lives on a
    PersistentVolumeClaim of the default StorageClass, so a soft delete can keep it until its retention ends;
    an admin may choose an emptyDir instead (``airpool.airflow.postgresql.persistence.enabled: false``)."""
    data: c.Obj = (
        {"persistentVolumeClaim": {"claimName": postgresql_claim_name(spec)}}
        if spec.postgresql_persistence.enabled
        else {"emptyDir": {}}
    )
    ready = _exec("sh", "-c", f'pg_isready -q -h 127.0.0.1 -p {c.POSTGRES_PORT} -U "$POSTGRES_USER"')
    container = {
        "name": "postgresql",
        **c.image_fields(spec.images.postgresql),
        "env": [
            {"name": "POSTGRES_USER", "value": settings.IN_NAMESPACE_DB_USER},
            {"name": "POSTGRES_DB", "value": settings.IN_NAMESPACE_DB_NAME},
            c.secret_env("POSTGRES_PASSWORD", settings.metadata_secret_name(spec), "password"),
            {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
            # Airflow's migrations need UTF8; a SQL_ASCII cluster breaks them.
            {"name": "POSTGRES_INITDB_ARGS", "value": "--encoding=UTF8 --locale=C.UTF-8"},
        ],
        "ports": [{"name": "postgresql", "containerPort": c.POSTGRES_PORT}],
        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}],
        "resources": c.resources(memory="64Mi", memory_limit="512Mi"),
        **_cheap_probes(ready),
    }
    pod = _helper_pod(spec, "postgresql", [container], [{"name": "data", **data}])
    return stateful_set(spec, "postgresql", pod)


def volume_claims(spec: AirflowSpec) -> list[c.Obj]:
    """PostgreSQL's data, and the shared task log volume of a KubernetesExecutor Deployment."""
    out: list[c.Obj] = []
    if spec.external_database is None and spec.postgresql_persistence.enabled:
        out.append(
            c.persistent_volume_claim(
                spec, postgresql_claim_name(spec), "postgresql", spec.postgresql_persistence, data=True
            )
        )
    if shares_log_volume(spec):
        out.append(c.persistent_volume_claim(spec, logs_claim_name(spec), "logs", spec.logs_persistence))
    return out


def _migration_command(spec: AirflowSpec) -> c.Obj:
    if spec.airflow3:
        # Airflow 3's simple auth manager reads its users from airflow.cfg and the passwords Secret.
        return {"args": ["airflow", "db", "migrate"]}
    # Airflow 2.x: the webserver's FAB login; the account is created once and then left alone.
    script = (
        "set -e\n"
        "airflow db migrate\n"
        'airflow users create --role Admin --username "$AIRFLOW_ADMIN_USER" --password "$AIRFLOW_ADMIN_PASSWORD" '
        "--email admin@airpool.invalid --firstname Airflow --lastname Admin\n"
    )
    return {"command": ["/bin/bash", "-c", script]}


def migration_job(spec: AirflowSpec) -> c.Obj:
    component = "run-airflow-migrations"
    pod = airflow_pod_spec(spec, component, ["airflow", "db", "migrate"], wait_for_migrations=False)
    pod["serviceAccountName"] = c.sa_name(spec, "migrate-database-job")
    pod["restartPolicy"] = "OnFailure"
    container = pod["containers"][0]
    del container["args"]
    container.update(_migration_command(spec))
    if not spec.airflow3:
        container["env"] = [
            *container["env"],
            c.secret_env("AIRFLOW_ADMIN_USER", settings.admin_secret_name(spec), "username"),
            c.secret_env("AIRFLOW_ADMIN_PASSWORD", settings.admin_secret_name(spec), "password"),
        ]
    return c.obj(
        "batch/v1",
        "Job",
        c.meta(spec, c.name(spec, component), component),
        spec={"backoffLimit": 6, "template": _template(spec, component, pod)},
    )


def cleanup_cron_job(spec: AirflowSpec) -> c.Obj:
    component = "airflow-cleanup-pods"
    pod = airflow_pod_spec(
        spec,
        component,
        ["airflow", "kubernetes", "cleanup-pods", f"--namespace={spec.namespace}"],
        wait_for_migrations=False,
    )
    pod["serviceAccountName"] = c.sa_name(spec, "cleanup")
    pod["restartPolicy"] = "Never"
    return c.obj(
        "batch/v1",
        "CronJob",
        c.meta(spec, c.name(spec, "cleanup"), component),
        spec={
            "schedule": "*/15 * * * *",
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 1,
            "jobTemplate": {
                "metadata": {"labels": c.labels(spec, component)},
                "spec": {"backoffLimit": 1, "template": _template(spec, component, pod)},
            },
        },
    )


def has_cleanup(spec: AirflowSpec) -> bool:
    """The cleanup CronJob removes the KubernetesExecutor's finished task pods; no other executor makes pods to
    clean up (and Airflow 2.x offers ``airflow kubernetes`` only when the KubernetesExecutor is configured)."""
    return spec.executor is Executor.KUBERNETES


def all_workloads(spec: AirflowSpec) -> list[c.Obj]:
    out = [*airflow_workloads(spec), statsd(spec), pgbouncer(spec)]
    if spec.executor is Executor.CELERY:
        out.append(redis(spec))
    if spec.external_database is None:
        out.append(postgresql(spec))
    out.append(migration_job(spec))
    if has_cleanup(spec):
        out.append(cleanup_cron_job(spec))
    return out


#: Pod-template annotation of every long-running Airflow component: a keyed digest of what the pods read only when
#: they start (airflow.cfg and the pod template by subPath, the user's variables by envFrom), so that changing any
#: of them rolls the pods. Keyed (HMAC with the Deployment's own secret key) because the variables hold secrets.
SETTINGS_CHECKSUM_ANNOTATION = "airpool.io/settings-checksum"


def annotate_settings(spec: AirflowSpec, objects: list[c.Obj], *, key: str, settings_text: str) -> None:
    """Set ``SETTINGS_CHECKSUM_ANNOTATION`` on the Airflow components' pod templates (in place)."""
    digest = hmac.new(key.encode(), settings_text.encode(), hashlib.sha256).hexdigest()[:32]
    names = {c.name(spec, component) for component in airflow_components(spec)}
    for obj in objects:
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] in names:
            template_meta = obj["spec"]["template"]["metadata"]
            template_meta.setdefault("annotations", {})[SETTINGS_CHECKSUM_ANNOTATION] = digest
