"""The rendered objects of one Airflow Deployment are complete, consistent with each other and labelled."""

from __future__ import annotations

import base64
import itertools
import json
from collections import Counter
from typing import Any

import pytest
import yaml
from lightkube import codecs

from airpool.domain.deployments import Executor
from airpool.domain.errors import InvalidInput
from airpool.manifests.airflow import common, render, settings, workloads
from airpool.manifests.airflow.spec import AirflowSecrets, AirflowSpec, DagDeployment, ExternalDatabase

VERSIONS = ("3.3.2", "2.11.0")
CASES = list(itertools.product(Executor, VERSIONS))


def make_spec(executor: Executor = Executor.CELERY, version: str = "3.3.2", **kw: Any) -> AirflowSpec:
    return AirflowSpec(
        deployment_id="dep-42",
        release_name="lunar-rocket-1234",
        namespace="pool-a",
        executor=executor,
        airflow_version=version,
        platform_labels=(("team", "data"),),
        **kw,
    )


def objects(spec: AirflowSpec, secrets: AirflowSecrets | None = None) -> list[dict[str, Any]]:
    return render.render(spec, secrets or AirflowSecrets.generate())


def by_kind(objs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def pod_specs(objs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for o in objs:
        if o["kind"] in ("Deployment", "StatefulSet", "Job"):
            out[o["metadata"]["name"]] = o["spec"]["template"]["spec"]
        elif o["kind"] == "CronJob":
            out[o["metadata"]["name"]] = o["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return out


@pytest.mark.parametrize(("executor", "version"), CASES)
def test_every_object_is_labelled_unique_and_loads_as_a_kubernetes_model(executor: Executor, version: str) -> None:
    spec = make_spec(executor, version)
    objs = objects(spec)
    keys = Counter((o["kind"], o["metadata"]["name"]) for o in objs)
    assert [k for k, n in keys.items() if n > 1] == []
    for o in objs:
        labels = o["metadata"]["labels"]
        assert labels[common.MANAGED_BY] == "airpool"
        assert labels[common.DEPLOYMENT_LABEL] == "dep-42"
        assert labels[common.RELEASE_LABEL] == "lunar-rocket-1234"
        assert labels["team"] == "data"
        if o["kind"] != "PersistentVolume":
            assert o["metadata"]["namespace"] == "pool-a"
        codecs.from_dict(o)  # a known kind and apiVersion with a well-formed body


@pytest.mark.parametrize(("executor", "version"), CASES)
def test_references_between_objects_resolve(executor: Executor, version: str) -> None:
    objs = objects(make_spec(executor, version))
    accounts = set(by_kind(objs, "ServiceAccount"))
    secrets = {n: o["data"] for n, o in by_kind(objs, "Secret").items()}
    config_maps = {n: o["data"] for n, o in by_kind(objs, "ConfigMap").items()}
    for pod_name, pod in pod_specs(objs).items():
        assert pod["serviceAccountName"] in accounts, pod_name
        for container in pod["containers"] + pod.get("initContainers", []):
            assert set(container["resources"]) == {"requests", "limits"}, (pod_name, container["name"])
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets[ref["name"]], (pod_name, ref)
        claims = set(by_kind(objs, "PersistentVolumeClaim"))
        for volume in pod["volumes"]:
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps
            if "secret" in volume:
                assert volume["secret"]["secretName"] in secrets
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims
        volume_names = {v["name"] for v in pod["volumes"]}
        for container in pod["containers"] + pod.get("initContainers", []):
            assert {m["name"] for m in container.get("volumeMounts", [])} <= volume_names, pod_name
    roles = by_kind(objs, "Role")
    for binding in by_kind(objs, "RoleBinding").values():
        assert binding["roleRef"]["name"] in roles
        assert {s["name"] for s in binding["subjects"]} <= accounts
    templates = [
        o["spec"]["template"]["metadata"]["labels"] for o in objs if o["kind"] in ("Deployment", "StatefulSet")
    ]
    for svc in by_kind(objs, "Service").values():
        selector = svc["spec"]["selector"].items()
        assert any(selector <= t.items() for t in templates), svc["metadata"]["name"]
    services = by_kind(objs, "Service")
    for ingress in by_kind(objs, "Ingress").values():
        backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
        assert backend in services


def test_celery_has_workers_redis_and_flower_with_their_secrets() -> None:
    objs = objects(make_spec(Executor.CELERY))
    names = {(o["kind"], o["metadata"]["name"]) for o in objs}
    r = "lunar-rocket-1234"
    expected = {
        ("Deployment", f"{r}-worker"),
        ("Deployment", f"{r}-flower"),
        ("StatefulSet", f"{r}-redis"),
        ("Service", f"{r}-redis"),
        ("Secret", f"{r}-redis-password"),
        ("Secret", f"{r}-broker-url"),
        ("Ingress", f"{r}-flower-ingress"),
        ("ServiceAccount", f"{r}-airflow-worker"),
    }
    assert expected <= names
    for component in ("api-server", "scheduler", "triggerer", "dag-processor", "statsd", "pgbouncer"):
        assert ("Deployment", f"{r}-{component}") in names
    for suffix in ("pod-launcher-role", "pod-log-reader-role"):
        assert ("Role", f"{r}-{suffix}") in names
        assert ("RoleBinding", f"{r}-{suffix}binding") in names
    assert ("Job", f"{r}-run-airflow-migrations") in names
    assert {("ResourceQuota", f"{r}-resource-quota"), ("LimitRange", f"{r}-limit-range")} <= names
    assert ("StatefulSet", f"{r}-postgresql") in names  # no admin URL: in-namespace database


@pytest.mark.parametrize("executor", [Executor.KUBERNETES, Executor.LOCAL])
def test_non_celery_executors_have_no_broker(executor: Executor) -> None:
    objs = objects(make_spec(executor))
    names = {o["metadata"]["name"] for o in objs}
    assert not {n for n in names if "redis" in n or "flower" in n or "broker" in n}
    launcher = by_kind(objs, "RoleBinding")["lunar-rocket-1234-pod-launcher-rolebinding"]
    assert "lunar-rocket-1234-airflow-scheduler" in {s["name"] for s in launcher["subjects"]}
    cfg = by_kind(objs, "ConfigMap")["lunar-rocket-1234-config"]["data"]
    assert f"executor = {executor.value}" in cfg["airflow.cfg"]
    assert ("pod_template_file.yaml" in cfg) is (executor is Executor.KUBERNETES)


def test_airflow2_runs_a_webserver_and_no_separate_dag_processor() -> None:
    objs = objects(make_spec(Executor.CELERY, "2.11.0"))
    deployments = by_kind(objs, "Deployment")
    assert "lunar-rocket-1234-webserver" in deployments
    assert "lunar-rocket-1234-api-server" not in deployments
    assert "lunar-rocket-1234-dag-processor" not in deployments
    web = deployments["lunar-rocket-1234-webserver"]["spec"]["template"]["spec"]["containers"][0]
    assert web["image"] == "apache/airflow:2.11.0"
    assert web["args"] == ["airflow", "webserver"]
    assert any(e["name"] == "AIRFLOW__WEBSERVER__SECRET_KEY" for e in web["env"])


def test_airflow3_uses_the_official_image_and_api_server() -> None:
    objs = objects(make_spec())
    api = by_kind(objs, "Deployment")["lunar-rocket-1234-api-server"]["spec"]["template"]["spec"]["containers"][0]
    assert api["image"] == "apache/airflow:3.3.2"
    assert api["args"] == ["airflow", "api-server"]
    assert {"AIRFLOW__API__SECRET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET"} <= {e["name"] for e in api["env"]}


def test_secret_values_round_trip_and_are_kept_on_rerender() -> None:
    spec = make_spec()
    first = AirflowSecrets.generate()
    objs = objects(spec, first)
    stored = {n: o["data"] for n, o in by_kind(objs, "Secret").items()}
    again = settings.secrets_from_existing(spec, stored)
    assert again == first
    assert render.render(spec, again) == objs  # deterministic: a re-apply changes nothing
    fernet = base64.urlsafe_b64decode(first.fernet_key)
    assert len(fernet) == 32
    connection = base64.b64decode(stored["lunar-rocket-1234-metadata"]["connection"]).decode()
    assert connection.startswith("postgresql+psycopg2://airflow:")  # not psycopg 3 behind PgBouncer
    assert "lunar-rocket-1234-pgbouncer.pool-a:6543/lunar-rocket-1234-metadata" in connection


def test_missing_values_are_generated_and_never_shown_in_repr() -> None:
    spec = make_spec()
    kept = base64.b64encode(b"kept-fernet").decode()
    got = settings.secrets_from_existing(spec, {"lunar-rocket-1234-fernet-key": {"fernet-key": kept}})
    assert got.fernet_key == "kept-fernet"
    assert len(got.db_password) >= 24
    assert got.db_password not in repr(got)
    assert repr(got) == "AirflowSecrets(<hidden>)"
    assert settings.secrets_from_existing(spec, {}).fernet_key != settings.secrets_from_existing(spec, {}).fernet_key


def test_nfs_dags_are_a_bound_volume_mounted_read_only_where_dags_are_parsed() -> None:
    spec = make_spec(Executor.CELERY, dags=DagDeployment.nfs("nfs.example.com:/exports/dags"))
    objs = objects(spec)
    pv = by_kind(objs, "PersistentVolume")["pool-a-lunar-rocket-1234-dags"]
    assert "namespace" not in pv["metadata"]
    assert pv["spec"]["nfs"] == {"server": "nfs.example.com", "path": "/exports/dags", "readOnly": True}
    assert pv["spec"]["claimRef"]["namespace"] == "pool-a"
    pvc = by_kind(objs, "PersistentVolumeClaim")["lunar-rocket-1234-dags"]
    assert pvc["spec"]["volumeName"] == pv["metadata"]["name"]
    mounted = set()
    for pod_name, pod in pod_specs(objs).items():
        for mount in pod["containers"][0].get("volumeMounts", []):
            if mount["mountPath"] == "/opt/airflow/dags":
                assert mount["readOnly"] is True
                mounted.add(pod_name)
    assert mounted == {f"lunar-rocket-1234-{c}" for c in ("scheduler", "dag-processor", "worker")}
    assert not by_kind(objects(make_spec()), "PersistentVolume")


@pytest.mark.parametrize("location", ["nfs.local", "nfs.local:dags", ":/dags", ""])
def test_bad_nfs_location_names_the_expected_form(location: str) -> None:
    with pytest.raises(InvalidInput, match=r"server:/path"):
        DagDeployment.nfs(location)


def test_external_database_replaces_the_in_namespace_postgresql() -> None:
    ext = ExternalDatabase(host="db.internal", port=5433, database="lunar_rocket_1234", user="lunar_rocket_1234")
    objs = objects(make_spec(external_database=ext))
    assert not [n for n in (o["metadata"]["name"] for o in objs) if n.endswith("-postgresql")]
    ini = base64.b64decode(by_kind(objs, "Secret")["lunar-rocket-1234-pgbouncer-config"]["data"]["pgbouncer.ini"])
    assert b"host=db.internal dbname=lunar_rocket_1234 port=5433" in ini


def test_secret_values_appear_only_in_secrets() -> None:
    s = AirflowSecrets.generate()
    for o in objects(make_spec(), s):
        if o["kind"] != "Secret":
            text = json.dumps(o)
            for value in (
                s.fernet_key,
                s.db_password,
                s.redis_password,
                s.jwt_secret,
                s.webserver_secret_key,
                s.admin_password,
            ):
                assert value not in text, o["metadata"]["name"]


def airflow_cfg(objs: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(by_kind(objs, "ConfigMap")["lunar-rocket-1234-config"]["data"]["airflow.cfg"])
    return {section: dict(parser[section]) for section in parser.sections()}


@pytest.mark.parametrize(("executor", "version"), CASES)
def test_airflow_cfg_carries_what_a_real_run_needed(executor: Executor, version: str) -> None:
    cfg = airflow_cfg(objects(make_spec(executor, version)))
    # Task logs are fetched from the pod that ran the task, by IP: pods have no DNS name of their own.
    assert cfg["core"]["hostname_callable"] == "airflow.utils.net.get_host_ip_address"
    assert cfg["usage_data_collection"]["enabled"] == "False"
    assert cfg["scheduler"]["enable_health_check"] == "True"
    if version.startswith("3"):
        # The API server serves under the base URL's path, the execution API included.
        assert cfg["api"]["base_url"] == "https://deployments.localhost/lunar-rocket-1234/airflow"
        assert (
            cfg["core"]["execution_api_server_url"]
            == "http://lunar-rocket-1234-api-server.pool-a:8080/lunar-rocket-1234/airflow/execution/"
        )
        assert cfg["core"]["auth_manager"].endswith("SimpleAuthManager")
        assert cfg["core"]["simple_auth_manager_users"] == "admin:admin"
    else:
        assert "basic_auth" in cfg["api"]["auth_backends"]
    if executor is Executor.CELERY:
        worker = by_kind(objects(make_spec(executor, version)), "Deployment")["lunar-rocket-1234-worker"]
        limit = worker["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
        # 8 task processes of ~60 MiB over a ~600 MiB worker (the 512Mi limit at concurrency 16 was OOM-killed).
        assert cfg["celery"]["worker_concurrency"] == "8"
        assert limit == "2Gi"


@pytest.mark.parametrize(("executor", "version"), CASES)
def test_every_airflow_process_has_probes_and_task_pods_have_none(executor: Executor, version: str) -> None:
    objs = objects(make_spec(executor, version))
    for name, obj in by_kind(objs, "Deployment").items():
        container = obj["spec"]["template"]["spec"]["containers"][0]
        probes = {"startupProbe", "livenessProbe", "readinessProbe"} & container.keys()
        if obj["metadata"]["labels"]["component"] in ("statsd", "pgbouncer"):
            assert {"livenessProbe", "readinessProbe"} <= probes, name
        elif obj["metadata"]["labels"]["component"] == "dag-processor":
            # serves nothing: an occasional `airflow jobs check` (Airflow's health endpoint covers it too)
            assert probes == {"livenessProbe"}, name
            assert container["livenessProbe"]["exec"]["command"][:3] == ["airflow", "jobs", "check"]
        else:
            assert probes == {"startupProbe", "livenessProbe", "readinessProbe"}, name
    for name, obj in by_kind(objs, "StatefulSet").items():
        assert "readinessProbe" in obj["spec"]["template"]["spec"]["containers"][0], name
    web = "api-server" if version.startswith("3") else "webserver"
    probe = by_kind(objs, "Deployment")[f"lunar-rocket-1234-{web}"]["spec"]["template"]["spec"]["containers"][0]
    health = "/api/v2/monitor/health" if version.startswith("3") else "/health"
    assert probe["readinessProbe"]["httpGet"]["path"] == f"/lunar-rocket-1234/airflow{health}"
    if executor is Executor.KUBERNETES:
        import yaml

        cfg = by_kind(objs, "ConfigMap")["lunar-rocket-1234-config"]["data"]
        template = yaml.safe_load(cfg["pod_template_file.yaml"])
        assert not {"startupProbe", "livenessProbe", "readinessProbe"} & template["spec"]["containers"][0].keys()


def test_postgresql_keeps_its_data_on_a_claim_of_the_default_class_unless_the_admin_asks_for_empty_dir() -> None:
    from airpool.config.model import Persistence

    objs = objects(make_spec(Executor.LOCAL))
    claim = by_kind(objs, "PersistentVolumeClaim")["lunar-rocket-1234-postgresql-data"]
    assert "storageClassName" not in claim["spec"]  # the cluster's default StorageClass
    assert claim["spec"]["resources"]["requests"]["storage"] == "8Gi"
    pod = by_kind(objs, "StatefulSet")["lunar-rocket-1234-postgresql"]["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": claim["metadata"]["name"]}}]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert "--encoding=UTF8" in env["POSTGRES_INITDB_ARGS"]

    ephemeral = objects(make_spec(Executor.LOCAL, postgresql_persistence=Persistence(enabled=False)))
    assert not by_kind(ephemeral, "PersistentVolumeClaim")
    pod = by_kind(ephemeral, "StatefulSet")["lunar-rocket-1234-postgresql"]["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "data", "emptyDir": {}}]


def test_kubernetes_executor_task_logs_live_on_a_volume_the_api_server_reads() -> None:
    import yaml

    objs = objects(make_spec(Executor.KUBERNETES))
    claim = by_kind(objs, "PersistentVolumeClaim")["lunar-rocket-1234-logs"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    template = yaml.safe_load(by_kind(objs, "ConfigMap")["lunar-rocket-1234-config"]["data"]["pod_template_file.yaml"])
    for name, pod in [("task pod", template["spec"]), *pod_specs(objs).items()]:
        logs = next((v for v in pod["volumes"] if v["name"] == "logs"), None)
        if name == "task pod" or name.endswith(("-api-server", "-scheduler", "-triggerer")):
            assert logs == {"name": "logs", "persistentVolumeClaim": {"claimName": "lunar-rocket-1234-logs"}}, name
    assert "lunar-rocket-1234-logs" not in by_kind(objects(make_spec(Executor.CELERY)), "PersistentVolumeClaim")


def test_images_pull_policy_and_pull_secret_come_from_the_configuration() -> None:
    from airpool.config.model import ImageRef, Images

    images = Images(
        airflow=ImageRef("registry.local/airflow", None, "Never"),
        postgresql=ImageRef("registry.local/postgres", "15", "Never"),
        redis=ImageRef("registry.local/redis", "7", "Always"),
        pgbouncer=ImageRef("registry.local/pgbouncer", "1.24", "IfNotPresent"),
        pgbouncer_exporter=None,
        statsd=ImageRef("registry.local/statsd", "v1", "IfNotPresent"),
        pull_secret="regcred",
    )
    objs = objects(make_spec(Executor.CELERY, images=images))
    seen = set()
    for name, pod in pod_specs(objs).items():
        assert pod["imagePullSecrets"] == [{"name": "regcred"}], name
        for container in pod["containers"] + pod.get("initContainers", []):
            assert container["image"].startswith("registry.local/"), (name, container["image"])
            seen.add((container["image"], container["imagePullPolicy"]))
    assert ("registry.local/airflow:3.3.2", "Never") in seen
    assert ("registry.local/redis:7", "Always") in seen
    pgbouncer = by_kind(objs, "Deployment")["lunar-rocket-1234-pgbouncer"]["spec"]["template"]["spec"]
    assert [c["name"] for c in pgbouncer["containers"]] == ["pgbouncer"]  # exporter disabled
    cfg = airflow_cfg(objects(make_spec(Executor.KUBERNETES, images=images)))
    assert cfg["kubernetes_executor"]["worker_container_repository"] == "registry.local/airflow"
    assert cfg["kubernetes_executor"]["worker_container_tag"] == "3.3.2"


def test_extra_volumes_reach_every_airflow_container_that_parses_or_runs_dags() -> None:
    volume = json.dumps({"name": "test-dags", "configMap": {"name": "my-dags"}}, sort_keys=True)
    mount = json.dumps({"name": "test-dags", "mountPath": "/opt/airflow/dags/test", "readOnly": True}, sort_keys=True)
    objs = objects(make_spec(Executor.CELERY, extra_volumes=(volume,), extra_volume_mounts=(mount,)))
    with_mount = set()
    for name, pod in pod_specs(objs).items():
        if any(v["name"] == "test-dags" for v in pod["volumes"]):
            assert {"name": "test-dags", "mountPath": "/opt/airflow/dags/test", "readOnly": True} in pod["containers"][
                0
            ]["volumeMounts"]
            with_mount.add(name.removeprefix("lunar-rocket-1234-"))
    assert with_mount == {"scheduler", "api-server", "triggerer", "dag-processor", "worker", "flower"}
    assert not [o for o in objects(make_spec()) if "test-dags" in json.dumps(o)]  # nothing unless configured


def test_airflow3_api_server_reads_its_admin_password_from_a_secret_copy_and_airflow2_creates_a_fab_user() -> None:
    s = AirflowSecrets.generate()
    objs = objects(make_spec(), s)
    stored = by_kind(objs, "Secret")["lunar-rocket-1234-airflow-admin"]["data"]
    assert json.loads(base64.b64decode(stored["passwords.json"])) == {"admin": s.admin_password}
    api = by_kind(objs, "Deployment")["lunar-rocket-1234-api-server"]["spec"]["template"]["spec"]
    copy = next(c for c in api["initContainers"] if c["name"] == "copy-auth-passwords")
    assert copy["command"][-1] == settings.SIMPLE_AUTH_PASSWORDS_FILE
    env = {e["name"]: e.get("value") for e in api["containers"][0]["env"]}
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] == settings.SIMPLE_AUTH_PASSWORDS_FILE

    old = objects(make_spec(Executor.LOCAL, "2.11.0"), s)
    job = by_kind(old, "Job")["lunar-rocket-1234-run-airflow-migrations"]["spec"]["template"]["spec"]["containers"][0]
    assert "airflow users create --role Admin" in job["command"][-1]
    assert s.admin_password not in json.dumps(job)


@pytest.mark.parametrize(("executor", "version"), CASES)
def test_only_the_kubernetes_executor_gets_the_task_pod_cleanup(executor: Executor, version: str) -> None:
    """The CronJob runs ``airflow kubernetes cleanup-pods``: only the KubernetesExecutor makes task pods, and
    Airflow 2.x has that command only when the KubernetesExecutor is configured."""
    objs = objects(make_spec(executor, version))
    r = "lunar-rocket-1234"
    cleanup = {
        (o["kind"], o["metadata"]["name"])
        for o in objs
        if o["metadata"]["name"]
        in (f"{r}-cleanup", f"{r}-cleanup-role", f"{r}-cleanup-rolebinding", f"{r}-airflow-cleanup")
    }
    if executor is Executor.KUBERNETES:
        assert cleanup == {
            ("CronJob", f"{r}-cleanup"),
            ("Role", f"{r}-cleanup-role"),
            ("RoleBinding", f"{r}-cleanup-rolebinding"),
            ("ServiceAccount", f"{r}-airflow-cleanup"),
        }
        cron = by_kind(objs, "CronJob")[f"{r}-cleanup"]
        container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
        assert container["args"][:3] == ["airflow", "kubernetes", "cleanup-pods"]
        assert "executor = KubernetesExecutor" in by_kind(objs, "ConfigMap")[f"{r}-config"]["data"]["airflow.cfg"]
    else:
        assert cleanup == set()


def _checksums(objs: list[dict[str, Any]]) -> dict[str, str]:
    return {
        o["metadata"]["name"]: o["spec"]["template"]["metadata"]
        .get("annotations", {})
        .get(workloads.SETTINGS_CHECKSUM_ANNOTATION, "")
        for o in objs
        if o["kind"] == "Deployment"
    }


@pytest.mark.parametrize(("executor", "version"), CASES)
def test_airflow_pods_roll_when_their_settings_or_variables_change(executor: Executor, version: str) -> None:
    """airflow.cfg (by subPath) and the variables (envFrom) are read only when a pod starts: the pod templates of
    the Airflow components carry a keyed digest of them, so a change rolls exactly those pods."""
    secrets = AirflowSecrets.generate()
    base = _checksums(objects(make_spec(executor, version), secrets))
    airflow = {f"lunar-rocket-1234-{c}" for c in workloads.airflow_components(make_spec(executor, version))}
    assert {n for n, v in base.items() if v} == airflow  # the helpers (statsd, PgBouncer) do not read them
    assert len(set(base[n] for n in airflow)) == 1
    assert _checksums(objects(make_spec(executor, version), secrets)) == base  # a re-apply rolls nothing

    secret_value = "hunter2-never-in-an-annotation"
    with_var = objects(make_spec(executor, version, env_vars=(("API_TOKEN", secret_value),)), secrets)
    changed = _checksums(with_var)
    assert all(changed[n] != base[n] for n in airflow)
    assert all(changed[n] == base[n] for n in base if n not in airflow)
    assert secret_value not in json.dumps([o for o in with_var if o["kind"] != "Secret"])

    other = Executor.LOCAL if executor is not Executor.LOCAL else Executor.CELERY
    moved = _checksums(objects(make_spec(other, version), secrets))
    assert {moved[n] for n in airflow if n in moved} != {base[n] for n in airflow}
    # keyed: another Deployment's secret key gives another digest for the very same settings
    assert _checksums(objects(make_spec(executor, version), AirflowSecrets.generate())) != base


@pytest.mark.parametrize("executor", list(Executor))
def test_airflow2_processes_that_fork_keep_no_connection_pool(executor: Executor) -> None:
    """Airflow 2.x's forked processes dispose of the pool they inherit, closing the parent's connections: the
    scheduler and the workers (Celery, task pods) keep no pool (PgBouncer pools server connections); the others
    and Airflow 3 keep theirs."""
    no_pool = {"name": "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_ENABLED", "value": "False"}
    for version in ("2.11.0", "3.3.2"):
        objs = objects(make_spec(executor, version))
        for name, pod in pod_specs(objs).items():
            component = name.removeprefix("lunar-rocket-1234-")
            has = no_pool in pod["containers"][0].get("env", [])
            assert has is (version == "2.11.0" and component in ("scheduler", "worker")), (version, name)
        cfg = by_kind(objs, "ConfigMap")["lunar-rocket-1234-config"]["data"]
        assert "sql_alchemy_pool_enabled" not in cfg["airflow.cfg"]
        if executor is Executor.KUBERNETES:
            template = yaml.safe_load(cfg["pod_template_file.yaml"])
            assert (no_pool in template["spec"]["containers"][0]["env"]) is (version == "2.11.0")
    old = by_kind(objects(make_spec(executor, "2.11.0")), "ConfigMap")["lunar-rocket-1234-config"]["data"]
    assert "web_server_master_timeout = 600\n" in old["airflow.cfg"]  # a loaded node's first permission sync


@pytest.mark.parametrize("executor", list(Executor))
def test_airflow3_tasks_wait_for_a_slow_execution_api(executor: Executor) -> None:
    """Tasks call the API server's execution API; 5 s (Airflow's default) killed tasks on a loaded node."""
    cfg = by_kind(objects(make_spec(executor, "3.3.2")), "ConfigMap")["lunar-rocket-1234-config"]["data"]
    assert "[workers]\nexecution_api_timeout = 120\n" in cfg["airflow.cfg"]
    old = by_kind(objects(make_spec(executor, "2.11.0")), "ConfigMap")["lunar-rocket-1234-config"]["data"]
    assert "execution_api_timeout" not in old["airflow.cfg"]


@pytest.mark.parametrize(("executor", "version"), CASES)
def test_every_variable_airpool_sets_is_refused_as_a_deployment_variable(executor: Executor, version: str) -> None:
    # A user's variable by one of these names would be shadowed by the platform's (env wins over envFrom), or read
    # under an older name; services.variables refuses them. This keeps its list in step with the manifests.
    from airpool.services.variables import RESERVED

    set_here = {
        e["name"]
        for pod in pod_specs(objects(make_spec(executor, version))).values()
        for container in pod["containers"] + pod.get("initContainers", [])
        for e in container.get("env", [])
        if e["name"].startswith("AIRFLOW")
    }
    assert set_here, "no Airflow container found"
    assert sorted(set_here - set(RESERVED)) == []
