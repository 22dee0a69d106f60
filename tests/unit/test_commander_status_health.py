"""Airflow's own health report decides healthy vs unhealthy vs deploying, component by component."""

from __future__ import annotations

from airpool.commander import status
from airpool.domain.deployments import DeploymentStatus, Executor
from airpool.manifests.airflow.spec import AirflowSpec

AIRFLOW3 = AirflowSpec(deployment_id="d", release_name="r", namespace="n", executor=Executor.LOCAL)
AIRFLOW2 = AirflowSpec(deployment_id="d", release_name="r", namespace="n", airflow_version="2.11.2")


def healthy(*names: str) -> dict[str, object]:
    return {name: {"status": "healthy"} for name in names}


def test_every_expected_component_healthy_is_healthy() -> None:
    report = healthy("metadatabase", "scheduler", "triggerer", "dag_processor")
    got = status.judge_health(AIRFLOW3, report)
    assert got.status is None
    assert got.message == "Airflow reports metadatabase, scheduler, triggerer, dag_processor healthy"
    # Airflow 2.x runs no separate DAG processor: its null status there is expected.
    old = {**healthy("metadatabase", "scheduler", "triggerer"), "dag_processor": {"status": None}}
    assert status.judge_health(AIRFLOW2, old).status is None


def test_an_unhealthy_component_makes_the_deployment_unhealthy_with_its_last_heartbeat() -> None:
    report = {
        **healthy("metadatabase", "scheduler", "dag_processor"),
        "triggerer": {"status": "unhealthy", "latest_triggerer_heartbeat": "2026-11-30T07:00:00+00:00"},
    }
    got = status.judge_health(AIRFLOW3, report)
    assert got.status is DeploymentStatus.UNHEALTHY
    assert got.message == "Airflow reports triggerer unhealthy (last heartbeat 2026-11-30T07:00:00+00:00)"


def test_a_component_not_reported_yet_keeps_it_deploying() -> None:
    report = {**healthy("metadatabase", "scheduler", "triggerer"), "dag_processor": {"status": None}}
    got = status.judge_health(AIRFLOW3, report)
    assert got.status is DeploymentStatus.DEPLOYING
    assert got.message == "waiting for Airflow's dag_processor to report"


def test_an_answer_that_is_not_a_report_is_unhealthy() -> None:
    assert status.judge_health(AIRFLOW3, ["nope"]).status is DeploymentStatus.UNHEALTHY
