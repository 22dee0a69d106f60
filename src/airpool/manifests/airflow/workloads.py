"""Pods of an Airflow Deployment: the Airflow components, their helpers (statsd, PgBouncer, Redis, PostgreSQL),
the migration Job and the cleanup CronJob.

Every Airflow pod waits for the migrations before starting (init container), so the workloads can be applied in
parallel with the migration Job instead of after it.
"""

from __future__ import annotations

from airpool.domain.deployments import Executor
from airpool.manifests.airflow import common as c
from airpool.manifests.airflow import settings
from airpool.manifests.airflow.spec import AirflowSpec, DagSource

CONFIG_VOLUME = "config"
DAGS_VOLUME = "dags"
LOGS_VOLUME = "logs"


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
    out = [*airflow_components(spec), "statsd", "pgbouncer", "cleanup", "migrate-database-job"]
    if spec.executor is Executor.KUBERNETES:
        out.append("worker")  # the task pods launched by the scheduler run as the worker account
    if spec.executor is Executor.CELERY:
        out.append("redis")
    if spec.external_database is None:
        out.append("postgresql")
    return out


def _mounts_dags(spec: AirflowSpec, component: str) -> bool:
    return spec.dags.source is DagSource.NFS and component in {"scheduler", "dag-processor", "worker"}


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


def _volumes(spec: AirflowSpec, component: str) -> tuple[list[c.Obj], list[c.Obj]]:
    volumes: list[c.Obj] = [
        {"name": CONFIG_VOLUME, "configMap": {"name": c.name(spec, "config")}},
        {"name": LOGS_VOLUME, "emptyDir": {}},
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
    if component == webserver_component(spec):
        volumes.append({"name": "webserver-config", "configMap": {"name": c.name(spec, "webserver-config")}})
        mounts.append(
            {
                "name": "webserver-config",
                "mountPath": f"{c.AIRFLOW_HOME}/webserver_config.py",
                "subPath": "webserver_config.py",
                "readOnly": True,
            }
        )
    if _mounts_dags(spec, component):
        volumes.append(
            {"name": DAGS_VOLUME, "persistentVolumeClaim": {"claimName": c.name(spec, "dags"), "readOnly": True}}
        )
        mounts.append({"name": DAGS_VOLUME, "mountPath": c.DAGS_FOLDER, "readOnly": True})
    return volumes, mounts


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


def airflow_ports(spec: AirflowSpec, component: str) -> list[tuple[str, int]]:
    if component == "scheduler" and spec.executor is Executor.LOCAL:
        return [("worker-logs", c.WORKER_LOG_PORT)]  # the scheduler runs the tasks and serves their logs
    return _PORTS.get(component, [])


def airflow_pod_spec(spec: AirflowSpec, component: str, command: list[str], *, wait_for_migrations: bool) -> c.Obj:
    volumes, mounts = _volumes(spec, component)
    container: c.Obj = {
        "name": component,
        "image": spec.image_ref,
        "imagePullPolicy": "IfNotPresent",
        "args": command,
        "env": _env(spec),
        "volumeMounts": mounts,
        "resources": c.resources(),
    }
    ports = airflow_ports(spec, component)
    if ports:
        container["ports"] = [{"name": n, "containerPort": p} for n, p in ports]
    pod: c.Obj = {
        "serviceAccountName": c.sa_name(spec, "worker" if component == "worker" else component),
        "securityContext": {"runAsUser": c.AIRFLOW_UID, "fsGroup": 0},
        "containers": [container],
        "volumes": volumes,
    }
    if wait_for_migrations:
        pod["initContainers"] = [
            {
                "name": "wait-for-airflow-migrations",
                "image": spec.image_ref,
                "imagePullPolicy": "IfNotPresent",
                "args": ["airflow", "db", "check-migrations", "--migration-wait-timeout=60"],
                "env": _env(spec),
                "volumeMounts": [m for m in mounts if m["name"] == CONFIG_VOLUME][:1],
                "resources": c.resources(),
            }
        ]
    return pod


def _template(spec: AirflowSpec, component: str, pod: c.Obj) -> c.Obj:
    return {"metadata": {"labels": c.labels(spec, component)}, "spec": pod}


def deployment(spec: AirflowSpec, component: str, pod: c.Obj) -> c.Obj:
    return c.obj(
        "apps/v1",
        "Deployment",
        c.meta(spec, c.name(spec, component), component),
        spec={
            "replicas": 1,
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
    pod["containers"][0]["name"] = "base"
    pod["restartPolicy"] = "Never"
    if spec.dags.source is DagSource.NFS:
        pod["volumes"].append(
            {"name": DAGS_VOLUME, "persistentVolumeClaim": {"claimName": c.name(spec, "dags"), "readOnly": True}}
        )
        pod["containers"][0]["volumeMounts"].append({"name": DAGS_VOLUME, "mountPath": c.DAGS_FOLDER, "readOnly": True})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": c.labels(spec, "worker")}, "spec": pod}


def airflow_workloads(spec: AirflowSpec) -> list[c.Obj]:
    return [
        deployment(spec, comp, airflow_pod_spec(spec, comp, _COMMANDS[comp], wait_for_migrations=True))
        for comp in airflow_components(spec)
    ]


def statsd(spec: AirflowSpec) -> c.Obj:
    pod = {
        "serviceAccountName": c.sa_name(spec, "statsd"),
        "containers": [
            {
                "name": "statsd",
                "image": c.STATSD_IMAGE,
                "args": ["--statsd.mapping-config=/etc/statsd-exporter/mappings.yml"],
                "ports": [
                    {"name": "statsd-ingest", "containerPort": c.STATSD_INGEST_PORT, "protocol": "UDP"},
                    {"name": "statsd-scrape", "containerPort": c.STATSD_SCRAPE_PORT},
                ],
                "volumeMounts": [{"name": "mappings", "mountPath": "/etc/statsd-exporter", "readOnly": True}],
                "resources": c.resources(),
            }
        ],
        "volumes": [{"name": "mappings", "configMap": {"name": c.name(spec, "statsd")}}],
    }
    return deployment(spec, "statsd", pod)


def pgbouncer(spec: AirflowSpec) -> c.Obj:
    pod = {
        "serviceAccountName": c.sa_name(spec, "pgbouncer"),
        "containers": [
            {
                "name": "pgbouncer",
                "image": c.PGBOUNCER_IMAGE,
                "args": ["-u", "nobody", "/etc/pgbouncer/pgbouncer.ini"],
                "ports": [{"name": "pgbouncer", "containerPort": c.PGBOUNCER_PORT}],
                "volumeMounts": [{"name": "config", "mountPath": "/etc/pgbouncer", "readOnly": True}],
                "resources": c.resources(),
            },
            {
                "name": "metrics-exporter",
                "image": c.PGBOUNCER_EXPORTER_IMAGE,
                "env": [
                    c.secret_env("DATABASE_URL", c.name(spec, "pgbouncer-stats"), "connection"),
                    {"name": "PGBOUNCER_EXPORTER_PORT", "value": str(c.PGBOUNCER_METRICS_PORT)},
                ],
                "ports": [{"name": "metrics", "containerPort": c.PGBOUNCER_METRICS_PORT}],
                "resources": c.resources(),
            },
        ],
        "volumes": [{"name": "config", "secret": {"secretName": c.name(spec, "pgbouncer-config")}}],
    }
    return deployment(spec, "pgbouncer", pod)


def redis(spec: AirflowSpec) -> c.Obj:
    pod = {
        "serviceAccountName": c.sa_name(spec, "redis"),
        "containers": [
            {
                "name": "redis",
                "image": c.REDIS_IMAGE,
                "command": ["/bin/sh", "-c", 'exec redis-server --requirepass "$REDIS_PASSWORD"'],
                "env": [c.secret_env("REDIS_PASSWORD", settings.redis_secret_name(spec), "password")],
                "ports": [{"name": "redis-db", "containerPort": c.REDIS_PORT}],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                "resources": c.resources(),
            }
        ],
        "volumes": [{"name": "data", "emptyDir": {}}],
    }
    return stateful_set(spec, "redis", pod)


def postgresql(spec: AirflowSpec) -> c.Obj:
    """In-namespace metadata database on an emptyDir: convenient for trying airpool, NOT for production (the
    data lives only as long as the pod)."""
    pod = {
        "serviceAccountName": c.sa_name(spec, "postgresql"),
        "containers": [
            {
                "name": "postgresql",
                "image": c.POSTGRES_IMAGE,
                "env": [
                    {"name": "POSTGRES_USER", "value": settings.IN_NAMESPACE_DB_USER},
                    {"name": "POSTGRES_DB", "value": settings.IN_NAMESPACE_DB_NAME},
                    c.secret_env("POSTGRES_PASSWORD", settings.metadata_secret_name(spec), "password"),
                    {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
                ],
                "ports": [{"name": "postgresql", "containerPort": c.POSTGRES_PORT}],
                "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}],
                "resources": c.resources(memory="64Mi"),
            }
        ],
        "volumes": [{"name": "data", "emptyDir": {}}],
    }
    return stateful_set(spec, "postgresql", pod)


def migration_job(spec: AirflowSpec) -> c.Obj:
    component = "run-airflow-migrations"
    pod = airflow_pod_spec(spec, component, ["airflow", "db", "migrate"], wait_for_migrations=False)
    pod["serviceAccountName"] = c.sa_name(spec, "migrate-database-job")
    pod["restartPolicy"] = "OnFailure"
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


def all_workloads(spec: AirflowSpec) -> list[c.Obj]:
    out = [*airflow_workloads(spec), statsd(spec), pgbouncer(spec)]
    if spec.executor is Executor.CELERY:
        out.append(redis(spec))
    if spec.external_database is None:
        out.append(postgresql(spec))
    out += [migration_job(spec), cleanup_cron_job(spec)]
    return out
