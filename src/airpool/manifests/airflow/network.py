"""Services, NetworkPolicies and Ingresses: who may reach which component of the Deployment.

Each component gets its own NetworkPolicy that admits only the peers it serves (Airflow pods of the same
release, the platform namespace for metrics scraping, anyone for the UI behind the ingress).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from airpool.domain.deployments import Executor
from airpool.manifests.airflow import common as c
from airpool.manifests.airflow import workloads
from airpool.manifests.airflow.spec import AirflowSpec


def services(spec: AirflowSpec) -> list[c.Obj]:
    web = workloads.webserver_component(spec)
    out = [
        c.service(spec, web, [c.port("api", c.API_PORT)]),
        c.service(
            spec,
            "statsd",
            [c.port("statsd-ingest", c.STATSD_INGEST_PORT, "UDP"), c.port("statsd-scrape", c.STATSD_SCRAPE_PORT)],
        ),
        c.service(
            spec, "pgbouncer", [c.port("pgbouncer", c.PGBOUNCER_PORT), c.port("metrics", c.PGBOUNCER_METRICS_PORT)]
        ),
        c.service(spec, "triggerer", [c.port("triggerer-logs", c.TRIGGERER_LOG_PORT)], headless=True),
    ]
    if spec.executor is Executor.CELERY:
        out += [
            c.service(spec, "worker", [c.port("worker-logs", c.WORKER_LOG_PORT)], headless=True),
            c.service(spec, "redis", [c.port("redis-db", c.REDIS_PORT)]),
            c.service(spec, "flower", [c.port("flower-ui", c.FLOWER_PORT)]),
        ]
    if spec.executor is Executor.LOCAL:
        out.append(c.service(spec, "scheduler", [c.port("worker-logs", c.WORKER_LOG_PORT)], headless=True))
    if spec.external_database is None:
        out.append(c.service(spec, "postgresql", [c.port("postgresql", c.POSTGRES_PORT)]))
    return out


def _airflow_peers(spec: AirflowSpec) -> c.Obj:
    return {"podSelector": {"matchLabels": {"tier": "airflow", "release": spec.release_name}}}


def _component_peer(spec: AirflowSpec, component: str) -> c.Obj:
    return {"podSelector": {"matchLabels": c.selector_labels(spec, component)}}


def _platform_peer(spec: AirflowSpec) -> c.Obj:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": spec.platform_namespace}}}


def _policy(spec: AirflowSpec, component: str, rules: list[c.Obj]) -> c.Obj:
    return c.obj(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        c.meta(spec, c.name(spec, f"{component}-policy"), component),
        spec={
            "podSelector": {"matchLabels": c.selector_labels(spec, component)},
            "policyTypes": ["Ingress"],
            "ingress": rules,
        },
    )


def _rule(peers: list[c.Obj] | None, *ports: tuple[int, str]) -> c.Obj:
    rule: c.Obj = {"ports": [{"port": p, "protocol": proto} for p, proto in ports]}
    if peers is not None:
        rule["from"] = peers
    return rule


def network_policies(spec: AirflowSpec) -> list[c.Obj]:
    web = workloads.webserver_component(spec)
    airflow, platform, web_peer = _airflow_peers(spec), _platform_peer(spec), _component_peer(spec, web)
    policies = {
        web: [_rule(None, (c.API_PORT, "TCP"))],
        "scheduler": [_rule([web_peer], (c.WORKER_LOG_PORT, "TCP"))],
        "triggerer": [_rule([web_peer], (c.TRIGGERER_LOG_PORT, "TCP"))],
        "statsd": [_rule([airflow], (c.STATSD_INGEST_PORT, "UDP")), _rule([platform], (c.STATSD_SCRAPE_PORT, "TCP"))],
        "pgbouncer": [
            _rule([airflow], (c.PGBOUNCER_PORT, "TCP")),
            _rule([platform], (c.PGBOUNCER_METRICS_PORT, "TCP")),
        ],
    }
    if spec.airflow3:
        policies["dag-processor"] = []  # serves nothing: deny all ingress
    if spec.executor is Executor.CELERY:
        policies["worker"] = [_rule([web_peer], (c.WORKER_LOG_PORT, "TCP"))]
        policies["flower"] = [_rule(None, (c.FLOWER_PORT, "TCP"))]
        policies["redis"] = [_rule([airflow], (c.REDIS_PORT, "TCP"))]
    if spec.external_database is None:
        policies["postgresql"] = [_rule([_component_peer(spec, "pgbouncer")], (c.POSTGRES_PORT, "TCP"))]
    return [_policy(spec, comp, rules) for comp, rules in policies.items()]


def _ingress(spec: AirflowSpec, object_name: str, component: str, path: str, backend: str, port: int) -> c.Obj:
    host = urlsplit(spec.ui_root).hostname or f"deployments.{spec.base_domain}"
    extra: dict[str, object] = {}
    if spec.ingress_class_name:
        extra["ingressClassName"] = spec.ingress_class_name
    if spec.ingress_tls_secret and spec.ui_root.startswith("https://"):
        extra["tls"] = [{"hosts": [host], "secretName": spec.ingress_tls_secret}]
    return c.obj(
        "networking.k8s.io/v1",
        "Ingress",
        c.meta(spec, object_name, component),
        spec={
            **extra,
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {
                                "path": path,
                                "pathType": "Prefix",
                                "backend": {"service": {"name": backend, "port": {"number": port}}},
                            }
                        ]
                    },
                }
            ],
        },
    )


def ui_paths(spec: AirflowSpec) -> dict[str, str]:
    """URL path of each UI behind the ingress host ``deployments.<base domain>``: "airflow" and, for Celery,
    "flower"."""
    out = {"airflow": f"/{spec.release_name}/airflow"}
    if spec.executor is Executor.CELERY:
        out["flower"] = f"/{spec.release_name}/flower"
    return out


def ui_urls(spec: AirflowSpec) -> dict[str, str]:
    return {kind: f"{spec.ui_root}{path}" for kind, path in ui_paths(spec).items()}


@dataclass(frozen=True)
class PortForward:
    """Reaching the Airflow UI without an ingress controller: forward a local port to its Service."""

    command: str
    local_url: str


def port_forward(*, namespace: str, release_name: str, airflow_version: str, local_port: int = 8080) -> PortForward:
    """The ``kubectl port-forward`` to the Deployment's API server (Airflow 3) or webserver (2.x) Service, next to
    the Ingress and URL logic above so the Deployment page's hint always names the Service the Ingress routes to."""
    component = "api-server" if int(airflow_version.split(".", 1)[0]) >= 3 else "webserver"
    command = f"kubectl -n {namespace} port-forward svc/{release_name}-{component} {local_port}:{c.API_PORT}"
    return PortForward(command=command, local_url=f"http://localhost:{local_port}/{release_name}/airflow/")


def ingresses(spec: AirflowSpec) -> list[c.Obj]:
    web = workloads.webserver_component(spec)
    out = [
        _ingress(spec, c.name(spec, "airflow-ingress"), web, ui_paths(spec)["airflow"], c.name(spec, web), c.API_PORT)
    ]
    if spec.executor is Executor.CELERY:
        out.append(
            _ingress(
                spec,
                c.name(spec, "flower-ingress"),
                "flower",
                ui_paths(spec)["flower"],
                c.name(spec, "flower"),
                c.FLOWER_PORT,
            )
        )
    return out
