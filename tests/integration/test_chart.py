"""airpool's Helm chart (charts/airpool) rendered by a real helm: lint, refusals, and RBAC that agrees with
``airpool config render`` for every kind of pool configuration (the rules are defined once, in manifests.rbac)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from airpool import config
from airpool.manifests import chart_rules, pool
from tests.support.chart import CHART, helm

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "values.yaml"
POSTGRES = "astronomer: {houston: {backendSecretName: airpool-db, replicas: 2}}\n"


def template(*values: Path, namespace: str = "astronomer", release: str = "astronomer") -> list[dict[str, Any]]:
    argv = ["template", release, str(CHART), "-n", namespace]
    for path in values:
        argv += ["-f", str(path)]
    result = helm(*argv)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_rules_file_is_generated_from_manifests_rbac() -> None:
    assert (CHART / "files" / "commander-rules.yaml").read_text() == chart_rules.render(), (
        "charts/airpool/files/commander-rules.yaml is stale: regenerate it with "
        "`.venv/bin/python -m airpool.manifests.chart_rules > charts/airpool/files/commander-rules.yaml`"
    )


@pytest.mark.parametrize("extra", ["", POSTGRES])
def test_lint_is_clean(tmp_path: Path, extra: str) -> None:
    values = write(tmp_path, "extra.yaml", extra or "{}\n")
    result = helm("lint", "--strict", str(CHART), "-f", str(EXAMPLE), "-f", str(values), "--namespace", "astronomer")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def _rbac_view(obj: dict[str, Any]) -> tuple[Any, ...]:
    meta = obj["metadata"]
    labels = meta.get("labels") or {}
    view: tuple[Any, ...] = (obj["kind"], meta["name"], meta.get("namespace"))
    if obj["kind"] == "Namespace":
        own = {k: v for k, v in labels.items() if not k.startswith(("app.kubernetes.io/", "helm.sh/"))}
        return (*view, tuple(sorted(own.items())))
    return (
        *view,
        yaml.safe_dump(obj.get("rules")),
        yaml.safe_dump(obj.get("roleRef")),
        yaml.safe_dump(obj.get("subjects")),
    )


COMPARED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}

CONFIGURATIONS = {
    "standard pool, airpool creates it": "",
    "no pool": "global: {features: {namespacePools: {enabled: false}}}\n",
    "no pool, NFS": (
        "global: {features: {namespacePools: {enabled: false}}}\n"
        "astronomer: {houston: {config: {deployments: {nfsMountDagDeployment: true}}}}\n"
    ),
    "pool with NFS": "astronomer: {houston: {config: {deployments: {nfsMountDagDeployment: true}}}}\n",
    "pool, admin creates namespaces": "global: {features: {namespacePools: {namespaces: {create: false}}}}\n",
    "pool without RBAC": "global: {rbacEnabled: false}\n",
    "pool, clusterRoles false": "global: {clusterRoles: false}\n",
    "advanced only": (
        "global: {features: {namespacePools: {enabled: false}}, clusterRoles: false}\n"
        "astronomer: {houston: {config: {deployments: {preCreatedNamespaces: [{name: team-a}, {name: team-b}],"
        " manualNamespaceNames: true, hardDeleteDeployment: true}}}}\n"
    ),
    "standard and advanced mixed": (
        "astronomer: {houston: {config: {deployments: {preCreatedNamespaces: [{name: team-a}]}}}}\n"
    ),
    "pool switched off by manualNamespaceNames": (
        "astronomer: {houston: {config: {deployments: {manualNamespaceNames: false}}}}\n"
    ),
}


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_chart_rbac_and_namespaces_match_config_render(tmp_path: Path, name: str) -> None:
    override = write(tmp_path, "override.yaml", CONFIGURATIONS[name] or "{}\n")
    cfg = config.load([EXAMPLE, override])
    expected = sorted(
        _rbac_view(obj)
        for obj in pool.render(cfg)
        if obj["kind"] in COMPARED and obj["metadata"]["name"] != cfg.platform_namespace
    )
    rendered = sorted(_rbac_view(obj) for obj in template(EXAMPLE, override) if obj["kind"] in COMPARED)
    assert rendered == expected


def test_server_reads_the_same_values(tmp_path: Path) -> None:
    objects = template(EXAMPLE, write(tmp_path, "pg.yaml", POSTGRES))
    (values_map,) = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "astronomer-values"]
    server_values = write(tmp_path, "server.yaml", values_map["data"]["values.yaml"])
    cfg = config.load([server_values])
    assert cfg.pool is not None
    assert cfg.pool.names == ("airflow-pool-1", "airflow-pool-2", "airflow-pool-3")
    assert cfg.platform_namespace == "astronomer"
    assert cfg.commander_service_account == "astronomer-commander"
    assert cfg.ignored_keys == ()  # every key the chart passes is one airpool or the chart reads


def test_postgres_install_runs_server_commander_migration_and_cleanup_apart(tmp_path: Path) -> None:
    objects = template(EXAMPLE, write(tmp_path, "pg.yaml", POSTGRES))
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    deployments = {d["metadata"]["name"]: d for d in by_kind["Deployment"]}
    server, commander = deployments["astronomer-houston"], deployments["astronomer-commander"]
    assert server["spec"]["replicas"] == 2
    server_pod = server["spec"]["template"]["spec"]
    assert server_pod["automountServiceAccountToken"] is False
    assert server_pod["containers"][0]["args"] == ["serve", "--no-commander", "--no-cleanup"]
    assert server_pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    assert server_pod["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert server_pod["containers"][0]["livenessProbe"]["httpGet"]["path"] == "/healthz"
    commander_pod = commander["spec"]["template"]["spec"]
    assert commander_pod["serviceAccountName"] == "astronomer-commander"
    assert commander_pod["containers"][0]["args"][0] == "commander"
    # its own metrics (the server pods do not have commander's): `commander --metrics-port` on the pod's address
    assert commander_pod["containers"][0]["args"][-4:] == ["--metrics-port", "8873", "--metrics-host", "0.0.0.0"]
    assert {"name": "metrics", "containerPort": 8873} in commander_pod["containers"][0]["ports"]
    assert not any("kubeconfig" in str(c) for c in commander_pod["containers"])  # its mounted token only
    # the servers reach each commander pod for Deployment logs at the address it records (docs/commander.md)
    commander_env = {e["name"]: e for e in commander_pod["containers"][0]["env"]}
    assert commander_env["AIRPOOL_COMMANDER_LOGS_ADDRESS"]["value"] == "0.0.0.0:8872"
    assert commander_env["AIRPOOL_COMMANDER_LOGS_URL"]["value"] == "http://$(POD_IP):8872"
    assert commander_env["POD_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    (job,) = by_kind["Job"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["db", "upgrade"]
    (cron,) = by_kind["CronJob"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert cron["spec"]["schedule"] == "0 5 * * *"
    assert by_kind["PodDisruptionBudget"][0]["spec"]["maxUnavailable"] == 1
    for namespace in by_kind["Namespace"]:
        assert namespace["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_sqlite_install_is_one_server_with_commander_inside_and_in_server_cleanup(tmp_path: Path) -> None:
    objects = template(EXAMPLE)
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    assert [d["metadata"]["name"] for d in deployments] == ["astronomer-houston"]
    pod = deployments[0]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "astronomer-commander"
    assert pod["containers"][0]["args"] == ["serve", "--migrate"]
    assert deployments[0]["spec"]["strategy"] == {"type": "Recreate"}
    assert not [o for o in objects if o["kind"] in ("CronJob", "Job", "PodDisruptionBudget")]
    (claim,) = [o for o in objects if o["kind"] == "PersistentVolumeClaim"]
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_ingress_with_tls_serves_ui_and_api_hosts(tmp_path: Path) -> None:
    values = write(
        tmp_path,
        "ingress.yaml",
        "astronomer: {houston: {backendSecretName: airpool-db, ingress: {enabled: true, className: nginx}}}\n"
        "global: {baseDomain: example.com, tlsSecret: airpool-tls}\n",
    )
    (ingress,) = [o for o in template(EXAMPLE, values) if o["kind"] == "Ingress"]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert [rule["host"] for rule in ingress["spec"]["rules"]] == ["app.example.com", "houston.example.com"]
    assert ingress["spec"]["tls"] == [
        {"secretName": "airpool-tls", "hosts": ["app.example.com", "houston.example.com"]}
    ]


REFUSED = {
    "SQLite with 2 replicas": (
        "astronomer: {houston: {replicas: 2}}\n",
        "astronomer.houston.replicas: 2 server replicas need PostgreSQL",
    ),
    "pool enabled with no names": (
        "global: {features: {namespacePools: {enabled: true, namespaces: {names: []}}}}\n",
        "global.features.namespacePools.namespaces.names: the namespace pool is enabled but lists no namespaces",
    ),
    "malformed namespace name": (
        "global: {features: {namespacePools: {namespaces: {names: [airflow-pool-1, Team_B]}}}}\n",
        'global.features.namespacePools.namespaces.names[1]: "Team_B" is not a valid namespace name',
    ),
    "reserved namespace name": (
        "global: {features: {namespacePools: {namespaces: {names: [kube-system]}}}}\n",
        'global.features.namespacePools.namespaces.names[0]: "kube-system" is reserved',
    ),
    "platform namespace differs from the release's": (
        "airpool: {namespace: platform}\n",
        'airpool.namespace: "platform" differs from the release namespace "astronomer"',
    ),
    "database URL in plain values": (
        "airpool: {databaseUrl: 'postgresql://u:p@db/airpool'}\n",
        "airpool.databaseUrl: not used by the chart",
    ),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_bad_values_fail_at_template_time_naming_the_value(tmp_path: Path, name: str) -> None:
    text, message = REFUSED[name]
    values = write(tmp_path, "bad.yaml", text)
    result = helm("template", "astronomer", str(CHART), "-n", "astronomer", "-f", str(EXAMPLE), "-f", str(values))
    assert result.returncode != 0
    assert message in result.stderr
    assert result.stdout == ""
