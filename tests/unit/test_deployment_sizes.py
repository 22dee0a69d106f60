"""A Deployment's size: values.yaml limits, the checks on Houston's ``config`` payload, and what the manifests
render from it (replicas, resources, the namespace's quota)."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import pytest
import yaml

from airpool.commander import specs
from airpool.config.build import build
from airpool.domain import sizes
from airpool.domain.errors import InvalidInput
from airpool.manifests.airflow import limits, render
from airpool.manifests.airflow.spec import AirflowSecrets

SECRETS = AirflowSecrets.generate()


def _objects(config_payload: dict[str, Any] | None, executor: str = "CeleryExecutor") -> dict[tuple[str, str], Any]:
    config, problems = build({})
    assert problems == []
    spec = specs.airflow_spec(
        config,
        deployment_id="d1",
        release_name="rel",
        namespace="ns",
        executor=executor,
        airflow_version="3.3.2",
        config_payload=config_payload,
    )
    return {(o["kind"], o["metadata"]["name"]): o for o in render.render(spec, SECRETS)}


def _container(objects: dict[tuple[str, str], Any], name: str) -> Any:
    return objects[("Deployment", f"rel-{name}")]["spec"]["template"]["spec"]["containers"][0]


def test_values_yaml_sets_defaults_and_limits_and_refuses_what_does_not_fit() -> None:
    config, problems = build(
        {"airpool": {"deploymentSizes": {"workers": {"replicas": 2, "maxReplicas": 5, "maxResources": {"cpu": "3"}}}}}
    )
    assert problems == []
    workers = config.size_limits["workers"]
    assert (workers.default.replicas, workers.max_replicas, workers.max_limits.cpu) == (2, 5, "3")
    _, problems = build(
        {
            "airpool": {
                "deploymentSizes": {
                    "workers": {"replicas": 6, "maxReplicas": 5},
                    "scheduler": {"resources": {"limits": {"memory": "lots"}}},
                    "flower": {},
                }
            }
        }
    )
    text = "\n".join(str(p) for p in problems)
    assert (
        "airpool.deploymentSizes.workers.replicas: 6 is more than airpool.deploymentSizes.workers.maxReplicas" in text
    )
    assert (
        "airpool.deploymentSizes.scheduler.resources.limits.memory: value 'lots' is not a Kubernetes quantity" in text
    )
    assert "airpool.deploymentSizes.flower: unknown key" in text


def test_quantities_compare_exactly() -> None:
    assert sizes.quantity("1500m", "cpu") == sizes.quantity("1.5", "cpu")
    assert sizes.quantity("1Gi", "memory") == sizes.quantity("1024Mi", "memory")
    for bad in ("", "1.5.5", "-1", "2 Gi", True, None):
        with pytest.raises(InvalidInput):
            sizes.quantity(bad, "cpu")


def test_default_render_is_unchanged_and_a_resized_deployment_renders_its_sizes_and_a_larger_quota() -> None:
    plain = _objects(None)
    assert _container(plain, "worker")["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}
    assert plain[("Deployment", "rel-worker")]["spec"]["replicas"] == 1
    assert plain[("ResourceQuota", "rel-resource-quota")]["spec"]["hard"] == {
        "pods": "60",
        "requests.cpu": "4",
        "requests.memory": "8Gi",
        "limits.cpu": "32",
        "limits.memory": "64Gi",
    }
    worker = {
        "replicas": 3,
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}},
    }
    sized = _objects({"workers": worker, "triggerer": {"replicas": 0, "resources": {}}, "webserver": {"replicas": 2}})
    assert sized[("Deployment", "rel-worker")]["spec"]["replicas"] == 3
    assert _container(sized, "worker")["resources"] == worker["resources"]
    assert sized[("Deployment", "rel-triggerer")]["spec"]["replicas"] == 0
    assert sized[("Deployment", "rel-api-server")]["spec"]["replicas"] == 2  # Airflow 3's webserver
    hard = sized[("ResourceQuota", "rel-resource-quota")]["spec"]["hard"]
    # base + twice (replicas x size) of every resized component: workers 3, api-server 2 (defaults), triggerer 0.
    assert hard["pods"] == str(limits.BASE_PODS + 2 * (3 + 2 + 0))
    assert hard["limits.cpu"] == f"{(32 + 2 * (3 * 2 + 2 * 1)) * 1000}m"
    assert hard["requests.memory"] == f"{8 * 1024 + 2 * (3 * 1024 + 2 * 128)}Mi"
    # KubernetesExecutor task pods take the workers' size.
    k8s = _objects({"workers": worker}, executor="KubernetesExecutor")
    template = k8s[("ConfigMap", "rel-config")]["data"]["pod_template_file.yaml"]
    assert "memory: 4Gi" in template


def test_config_checks_name_the_field_and_the_limit() -> None:
    config, _ = build({})
    defaults = {n: lim.default for n, lim in config.deployment_sizes}
    chosen = sizes.check_config({"workers": {"replicas": 10}}, defaults, config.size_limits)
    assert chosen["workers"].replicas == 10
    with pytest.raises(InvalidInput, match=r"config.workers.replicas 11 is outside .* 1 to 10"):
        sizes.check_config({"workers": {"replicas": 11}}, defaults, config.size_limits)
    with pytest.raises(InvalidInput, match=r"config.scheduler.resources.limits.gpu is not a resource"):
        sizes.check_config({"scheduler": {"resources": {"limits": {"gpu": "1"}}}}, defaults, config.size_limits)
    with pytest.raises(InvalidInput, match=r"config.scheduler.resources.limits.cpu 5 is larger .* at most 4"):
        sizes.check_config({"scheduler": {"resources": {"limits": {"cpu": "5"}}}}, defaults, config.size_limits)


def test_environment_variables_render_into_one_secret_every_airflow_container_reads() -> None:
    config, _ = build({})
    spec = specs.airflow_spec(
        config,
        deployment_id="d1",
        release_name="rel",
        namespace="ns",
        executor="KubernetesExecutor",
        airflow_version="3.3.2",
    )
    spec = dataclasses.replace(spec, env_vars=(("API_TOKEN", "hush"), ("MODE", "prod")))
    assert "hush" not in repr(spec)
    objects = {(o["kind"], o["metadata"]["name"]): o for o in render.render(spec, SECRETS)}
    data = objects[("Secret", "rel-env")]["data"]
    assert {k: base64.b64decode(v).decode() for k, v in data.items()} == {"API_TOKEN": "hush", "MODE": "prod"}
    pods = [o["spec"]["template"]["spec"] for o in objects.values() if o["kind"] in ("Deployment", "Job")]
    airflow = [p["containers"][0] for p in pods if p["containers"][0]["image"].startswith("apache/airflow:3")]
    assert len(airflow) >= 5
    for container in airflow:
        assert container["envFrom"] == [{"secretRef": {"name": "rel-env"}}]
    task_pod = yaml.safe_load(objects[("ConfigMap", "rel-config")]["data"]["pod_template_file.yaml"])
    assert task_pod["spec"]["containers"][0]["envFrom"] == [{"secretRef": {"name": "rel-env"}}]
    empty = render.render(dataclasses.replace(spec, env_vars=()), SECRETS)
    assert next(o for o in empty if o["metadata"]["name"] == "rel-env").get("data") == {}
