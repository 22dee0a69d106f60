"""The Deployment's Secrets and ConfigMaps: keys, connections, airflow.cfg and the pod template.

Secret values come in through ``AirflowSecrets``; ``secrets_from_existing`` reads them back from what the
cluster already holds so that a re-apply or an upgrade keeps every key (Fernet keys in particular: rotating
one would make every stored connection unreadable).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import fields
from urllib.parse import quote

import yaml

from airpool.domain.deployments import Executor
from airpool.manifests.airflow import common as c
from airpool.manifests.airflow import gitsync, network
from airpool.manifests.airflow.spec import AirflowSecrets, AirflowSpec

IN_NAMESPACE_DB_USER = "airflow"
IN_NAMESPACE_DB_NAME = "airflow"


def fernet_secret_name(spec: AirflowSpec) -> str:
    return c.name(spec, "fernet-key")


def metadata_secret_name(spec: AirflowSpec) -> str:
    return c.name(spec, "metadata")


def webserver_secret_name(spec: AirflowSpec) -> str:
    return c.name(spec, "webserver-secret-key")


def jwt_secret_name(spec: AirflowSpec) -> str:
    return c.name(spec, "jwt-secret")


def redis_secret_name(spec: AirflowSpec) -> str:
    return c.name(spec, "redis-password")


def broker_secret_name(spec: AirflowSpec) -> str:
    return c.name(spec, "broker-url")


def admin_secret_name(spec: AirflowSpec) -> str:
    """The Airflow UI/REST API account: ``username``, ``password`` (and, Airflow 3, the simple auth manager's
    ``passwords.json``)."""
    return c.name(spec, "airflow-admin")


#: Where each secret value lives: field of AirflowSecrets -> (secret name function, key).
_VALUE_HOMES = {
    "fernet_key": (fernet_secret_name, "fernet-key"),
    "webserver_secret_key": (webserver_secret_name, "webserver-secret-key"),
    "jwt_secret": (jwt_secret_name, "jwt-secret"),
    "db_password": (metadata_secret_name, "password"),
    "redis_password": (redis_secret_name, "password"),
    "admin_password": (admin_secret_name, "password"),
}


def secret_names(spec: AirflowSpec) -> list[str]:
    """Names of the Secrets holding values ``secrets_from_existing`` reads back."""
    return sorted({home(spec) for home, _ in _VALUE_HOMES.values()})


def secrets_from_existing(spec: AirflowSpec, existing: Mapping[str, Mapping[str, str]]) -> AirflowSecrets:
    """Values already stored in the cluster (``existing``: secret name -> base64 ``data``) win; only missing
    ones are newly generated."""
    fresh = AirflowSecrets.generate()
    values: dict[str, str] = {}
    for f in fields(AirflowSecrets):
        home, key = _VALUE_HOMES[f.name]
        stored = existing.get(home(spec), {}).get(key)
        values[f.name] = _decode(stored) if stored else ""
        if not values[f.name]:
            values[f.name] = getattr(fresh, f.name)
    return AirflowSecrets(**values)


def _decode(value: str) -> str:
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""


def db_user(spec: AirflowSpec) -> str:
    return spec.external_database.user if spec.external_database else IN_NAMESPACE_DB_USER


def metadata_connection(spec: AirflowSpec, s: AirflowSecrets) -> str:
    """Airflow reaches its database through the Deployment's PgBouncer, by pool name.

    The driver is named (psycopg2): Airflow 3.3's SQLAlchemy maps a bare ``postgresql://`` to psycopg 3, whose
    server-side prepared statements break behind PgBouncer in transaction mode (``DuplicatePreparedStatement``)
    unless the PgBouncer is 1.21 or newer with ``max_prepared_statements`` set."""
    host = f"{c.name(spec, 'pgbouncer')}.{spec.namespace}"
    user, password = quote(db_user(spec), safe=""), quote(s.db_password, safe="")
    return (
        f"postgresql+psycopg2://{user}:{password}@{host}:{c.PGBOUNCER_PORT}/{c.name(spec, 'metadata')}?sslmode=disable"
    )


def env_secret_name(spec: AirflowSpec) -> str:
    return c.name(spec, "env")


def secret_objects(spec: AirflowSpec, s: AirflowSecrets) -> list[c.Obj]:
    objs = [
        # The user's environment variables, for every Airflow container's envFrom (rendered even when empty, so
        # that a pod never waits for a Secret that is not there).
        c.secret(spec, env_secret_name(spec), dict(spec.env_vars)),
        *gitsync.secret_objects(spec),
        c.secret(spec, fernet_secret_name(spec), {"fernet-key": s.fernet_key}),
        c.secret(
            spec, metadata_secret_name(spec), {"connection": metadata_connection(spec, s), "password": s.db_password}
        ),
        c.secret(spec, webserver_secret_name(spec), {"webserver-secret-key": s.webserver_secret_key}),
        c.secret(spec, c.name(spec, "pgbouncer-config"), _pgbouncer_files(spec, s), "pgbouncer"),
        c.secret(
            spec,
            c.name(spec, "pgbouncer-stats"),
            {
                "connection": f"postgresql://{quote(db_user(spec), safe='')}:{quote(s.db_password, safe='')}"
                f"@127.0.0.1:{c.PGBOUNCER_PORT}/pgbouncer?sslmode=disable"
            },
            "pgbouncer",
        ),
    ]
    # passwords.json is what Airflow 3's simple auth manager reads; kept on 2.x too, so an upgrade changes nothing.
    admin = {
        "username": c.ADMIN_USER,
        "password": s.admin_password,
        "passwords.json": json.dumps({c.ADMIN_USER: s.admin_password}),
    }
    if spec.airflow3:
        objs.append(c.secret(spec, jwt_secret_name(spec), {"jwt-secret": s.jwt_secret}))
    objs.append(c.secret(spec, admin_secret_name(spec), admin))
    if spec.executor is Executor.CELERY:
        redis_host = f"{c.name(spec, 'redis')}.{spec.namespace}"
        objs.append(c.secret(spec, redis_secret_name(spec), {"password": s.redis_password}, "redis"))
        objs.append(
            c.secret(
                spec,
                broker_secret_name(spec),
                {"connection": f"redis://:{quote(s.redis_password, safe='')}@{redis_host}:{c.REDIS_PORT}/0"},
            )
        )
    return objs


def _pgbouncer_files(spec: AirflowSpec, s: AirflowSecrets) -> dict[str, str]:
    ext = spec.external_database
    if ext is None:
        host, port, dbname = f"{c.name(spec, 'postgresql')}.{spec.namespace}", c.POSTGRES_PORT, IN_NAMESPACE_DB_NAME
    else:
        host, port, dbname = ext.host, ext.port, ext.database
    ini = "\n".join(
        [
            "[databases]",
            f"{c.name(spec, 'metadata')} = host={host} dbname={dbname} port={port} pool_size=10",
            "",
            "[pgbouncer]",
            "pool_mode = transaction",
            f"listen_port = {c.PGBOUNCER_PORT}",
            "listen_addr = *",
            "auth_type = scram-sha-256",
            "auth_file = /etc/pgbouncer/users.txt",
            f"stats_users = {db_user(spec)}",
            "ignore_startup_parameters = extra_float_digits",
            "max_client_conn = 100",
            "server_tls_sslmode = prefer",
            "",
        ]
    )
    users = f'"{db_user(spec)}" "{s.db_password}"\n'
    return {"pgbouncer.ini": ini, "users.txt": users}


def config_maps(spec: AirflowSpec, *, worker_pod_template: c.Obj | None) -> list[c.Obj]:
    data = {"airflow.cfg": airflow_cfg(spec)}
    if worker_pod_template is not None:
        data["pod_template_file.yaml"] = yaml.safe_dump(worker_pod_template, sort_keys=True)
    statsd_mapping = "mappings:\n  - match: airflow.*\n    match_type: glob\n    name: airflow_${1}\n"
    webserver_config = "# Airflow webserver/API server configuration rendered by airpool.\nWTF_CSRF_ENABLED = True\n"
    return [
        c.config_map(spec, c.name(spec, "config"), data, "config"),
        c.config_map(spec, c.name(spec, "statsd"), {"mappings.yml": statsd_mapping}, "statsd"),
        c.config_map(spec, c.name(spec, "webserver-config"), {"webserver_config.py": webserver_config}, "config"),
    ]


#: Where the API server's simple auth manager keeps its passwords file (an emptyDir: the manager opens the file
#: for writing, so it cannot be the read-only Secret itself; an init container copies it there).
SIMPLE_AUTH_PASSWORDS_FILE = f"{c.AIRFLOW_HOME}/auth/passwords.json"
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
#: Celery worker: task processes at once, and a memory limit that fits them (each forked task process of a
#: small DAG measured 40-60 MiB on top of the worker's ~450 MiB).
CELERY_WORKER_CONCURRENCY = 8


#: Airflow 2.x components that fork processes which then dispose of the SQLAlchemy pool they inherited: each of
#: the LocalExecutor's worker processes at scheduler start, the task runner's fork (scheduler, Celery workers,
#: KubernetesExecutor task pods). SQLAlchemy 1.4 closes those inherited connections, which ends them for the parent
#: too, and the scheduler crashed on ``psycopg2.DatabaseError: error with status PGRES_TUPLES_OK and no message
#: from the libpq``. Without a pool there is nothing to inherit: every session opens its own connection to the
#: Deployment's PgBouncer (which pools the server connections). Only these: a pool-less webserver took minutes
#: longer for its first permission sync (one connection per statement).
AIRFLOW2_FORKING_COMPONENTS = frozenset({"scheduler", "worker"})
AIRFLOW2_NO_POOL = {"name": "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_ENABLED", "value": "False"}


def api_server_url(spec: AirflowSpec) -> str:
    """In-cluster URL of the API server (2.x: webserver) including the base URL's path it serves under."""
    web = "api-server" if spec.airflow3 else "webserver"
    return f"http://{c.name(spec, web)}.{spec.namespace}:{c.API_PORT}{spec.base_path}"


def health_path(spec: AirflowSpec) -> str:
    """Airflow's own health endpoint (unauthenticated): every component's state as JSON."""
    return f"{spec.base_path}/api/v2/monitor/health" if spec.airflow3 else f"{spec.base_path}/health"


def airflow_cfg(spec: AirflowSpec) -> str:
    base_url = network.ui_urls(spec)["airflow"]
    sections: dict[str, dict[str, str]] = {
        "core": {
            "dags_folder": gitsync.dags_folder(spec) if gitsync.enabled(spec) else c.DAGS_FOLDER,
            "executor": spec.executor.value,
            "load_examples": "False",
            "colored_console_log": "False",
            # Pods have no DNS name of their own: the API server fetches task logs from the pod's IP.
            "hostname_callable": "airflow.utils.net.get_host_ip_address",
            "parallelism": "16",
        },
        "logging": {
            "logging_level": "INFO",
            "remote_logging": "False",
            "base_log_folder": f"{c.AIRFLOW_HOME}/logs",
        },
        "metrics": {
            "statsd_on": "True",
            "statsd_host": f"{c.name(spec, 'statsd')}.{spec.namespace}",
            "statsd_port": str(c.STATSD_INGEST_PORT),
            "statsd_prefix": "airflow",
        },
        "scheduler": {
            "standalone_dag_processor": "True" if spec.airflow3 else "False",
            "enable_health_check": "True",
            "scheduler_health_check_server_port": str(c.SCHEDULER_HEALTH_PORT),
        },
        "usage_data_collection": {"enabled": "False"},
    }
    if spec.airflow3:
        sections["api"] = {"base_url": base_url, "workers": "2"}
        sections["core"]["execution_api_server_url"] = f"{api_server_url(spec)}/execution/"
        sections["core"]["auth_manager"] = SIMPLE_AUTH_MANAGER
        sections["core"]["simple_auth_manager_users"] = f"{c.ADMIN_USER}:admin"
        # Every task talks to the API server's execution API; on a loaded node one call took 38 s, and with the
        # default 5 s timeout a KubernetesExecutor task was killed after its retries before it ran any code.
        sections["workers"] = {"execution_api_timeout": "120"}
    else:
        sections["webserver"] = {
            "base_url": base_url,
            "enable_proxy_fix": "True",
            "workers": "2",
            # The first start syncs every FAB permission before gunicorn answers: minutes on a loaded node, where
            # the default 120 s made the webserver kill itself ("No response from gunicorn master") and restart.
            "web_server_master_timeout": "600",
        }
        sections["api"] = {"auth_backends": "airflow.api.auth.backend.basic_auth,airflow.api.auth.backend.session"}
    if spec.executor is Executor.CELERY:
        sections["celery"] = {"worker_concurrency": str(CELERY_WORKER_CONCURRENCY)}
    if spec.executor is Executor.KUBERNETES:
        sections["kubernetes_executor"] = {
            "namespace": spec.namespace,
            "pod_template_file": f"{c.AIRFLOW_HOME}/pod_templates/pod_template_file.yaml",
            "worker_container_repository": spec.images.airflow.repository,
            "worker_container_tag": spec.airflow_tag,
            "delete_worker_pods": "True",
        }
    lines: list[str] = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines.extend(f"{k} = {v}" for k, v in values.items())
        lines.append("")
    return "\n".join(lines)
