"""The Deployments' Ingresses: class and TLS Secret from values.yaml (issue 16, item 5), the host from
``airpool.deploymentsBaseUrl``, and the port-forward alternative the Deployment page shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from airpool import config
from airpool.commander import specs
from airpool.domain.deployments import Executor
from airpool.manifests.airflow import network


def _load(tmp_path: Path, text: str) -> config.PlatformConfig:
    values = tmp_path / "values.yaml"
    values.write_text(text)
    return config.load([values])


def _ingresses(cfg: config.PlatformConfig) -> list[dict[str, object]]:
    spec = specs.airflow_spec(
        cfg,
        deployment_id="d",
        release_name="quasar-1",
        namespace="pool-a",
        executor=Executor.CELERY.value,
        airflow_version="3.1.3",
    )
    return network.ingresses(spec)


def test_class_and_tls_secret_shape_every_ingress(tmp_path: Path) -> None:
    cfg = _load(
        tmp_path,
        "global: {tlsSecret: astronomer-tls}\n"
        "airpool: {deploymentsBaseUrl: 'https://airflow.example.com', ingress: {className: nginx}}\n",
    )
    found = _ingresses(cfg)
    assert len(found) == 2  # the Airflow UI and Flower
    for ingress in found:
        spec = ingress["spec"]
        assert isinstance(spec, dict)
        assert spec["ingressClassName"] == "nginx"
        assert spec["tls"] == [{"hosts": ["airflow.example.com"], "secretName": "astronomer-tls"}]
        assert spec["rules"][0]["host"] == "airflow.example.com"


def test_without_them_the_ingress_leaves_class_and_tls_out(tmp_path: Path) -> None:
    for text in (
        "{}\n",
        "global: {tlsSecret: astronomer-tls}\nairpool: {deploymentsBaseUrl: 'http://localhost:8080'}\n",
    ):
        for ingress in _ingresses(_load(tmp_path, text)):
            spec = ingress["spec"]
            assert isinstance(spec, dict)
            assert "ingressClassName" not in spec
            assert "tls" not in spec  # no TLS Secret, or a plain-http address


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("airpool: {ingress: {className: 'Nginx!'}}\n", "airpool.ingress.className"),
        ("global: {tlsSecret: 'tls secret'}\n", "global.tlsSecret"),
    ],
)
def test_bad_names_are_refused_with_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(config.ConfigError) as refused:
        _load(tmp_path, text)
    assert key in refused.value.message
    assert "is not a valid name; allowed: lower-case DNS names" in refused.value.message


@pytest.mark.parametrize(("version", "service"), [("3.1.3", "api-server"), ("2.10.5", "webserver")])
def test_port_forward_names_the_airflow_ui_service(version: str, service: str) -> None:
    hint = network.port_forward(namespace="pool-a", release_name="quasar-1", airflow_version=version)
    assert hint.command == f"kubectl -n pool-a port-forward svc/quasar-1-{service} 8080:8080"
    assert hint.local_url == "http://localhost:8080/quasar-1/airflow/"
