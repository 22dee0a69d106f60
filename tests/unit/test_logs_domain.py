"""Deployment logs' pure rules: components per Airflow version and executor, Houston's names, ``--since``
durations, and the kubelet's timestamped lines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airpool.domain import logs
from airpool.domain.errors import InvalidInput
from airpool.kube import podlogs


def test_components_follow_the_airflow_version_and_executor() -> None:
    assert logs.components(airflow_version="2.11.2", executor="LocalExecutor") == [
        "scheduler",
        "webserver",
        "triggerer",
    ]
    assert logs.components(airflow_version="3.3.2", executor="CeleryExecutor") == [
        "scheduler",
        "api-server",
        "triggerer",
        "dag-processor",
        "worker",
    ]


@pytest.mark.parametrize(
    ("given", "version", "label"),
    [
        ("webserver", "3.3.2", "api-server"),  # Houston's name for Airflow 3's API server
        ("api-server", "2.11.2", "webserver"),
        ("workers", "3.3.2", "worker"),  # the CLI's command name
        ("Scheduler", "2.11.2", "scheduler"),
        ("dag-processor", "3.3.2", "dag-processor"),
    ],
)
def test_houston_and_airpool_names_resolve_to_the_pod_label(given: str, version: str, label: str) -> None:
    assert logs.resolve_component(given, airflow_version=version, executor="CeleryExecutor") == label


def test_a_component_the_deployment_lacks_is_refused_with_what_it_has() -> None:
    with pytest.raises(InvalidInput) as refused:
        logs.resolve_component("dag-processor", airflow_version="2.11.2", executor="CeleryExecutor")
    assert refused.value.message == (
        "component 'dag-processor' has no logs in this Deployment (Airflow 2 parses DAGs inside the scheduler); "
        "allowed: scheduler, webserver, triggerer, workers"
    )
    with pytest.raises(InvalidInput, match="component 'postgres' has no logs"):
        logs.resolve_component("postgres", airflow_version="3.3.2", executor="KubernetesExecutor")


@pytest.mark.parametrize(
    ("text", "seconds"), [("25m", 1500), ("1h30m", 5400), ("90s", 90), ("2d", 172800), ("1.5h", 5400)]
)
def test_since_takes_go_durations(text: str, seconds: float) -> None:
    assert logs.parse_since(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("5", "not a duration"),
        ("ten minutes", "not a duration"),
        ("", "not a duration"),
        ("0", "no time at all"),
        ("500d", "too long"),
    ],
)
def test_bad_since_is_refused_with_examples(text: str, says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        logs.parse_since(text)


def test_limit_and_search_bounds() -> None:
    assert logs.check_limit(None) == 800
    with pytest.raises(InvalidInput, match="limit 5001 is out of range; allowed: 1 to 5000"):
        logs.check_limit(5001)
    assert logs.check_search("") is None
    with pytest.raises(InvalidInput, match="one line"):
        logs.check_search("a\nb")


def test_kubelet_lines_split_into_time_and_text() -> None:
    assert podlogs.split_timestamp("2026-11-30T10:00:01.123456789Z hello  world") == (
        datetime(2026, 11, 30, 10, 0, 1, 123456, tzinfo=UTC),
        "hello  world",
    )
    assert podlogs.split_timestamp("2026-11-30T10:00:01Z ") == (datetime(2026, 11, 30, 10, 0, 1, tzinfo=UTC), "")
    assert podlogs.split_timestamp("no timestamp here") is None


def _pod(name: str, *, started: bool = True, simulated: bool = False, waiting: str = "") -> logs.PodLog:
    return logs.PodLog(
        pod=name,
        container="c",
        phase="Running" if started else "Pending",
        started=started,
        simulated=simulated,
        waiting=waiting,
    )


def test_why_no_lines_names_the_case_a_user_is_in() -> None:
    def why(pods: list[logs.PodLog], component: str = "scheduler", **kw: object) -> tuple[str, str]:
        args: dict[str, object] = {"namespace": "pool-a", "executor": "CeleryExecutor", "filtered": False, **kw}
        return logs.why_no_lines(pods, component=component, **args)  # type: ignore[arg-type]

    assert why([])[0] == logs.NO_POD
    kind, reason = why([], "worker", executor="KubernetesExecutor")
    assert kind == logs.NO_TASK_POD
    assert "the KubernetesExecutor starts one per task" in reason
    kind, reason = why([_pod("w-1", started=False, waiting="ImagePullBackOff"), _pod("w-2", started=False)], "worker")
    assert (kind, reason) == (
        logs.NOT_STARTED,
        "the workers pod w-1 (and 1 more) is not running yet (ImagePullBackOff), so it has logged nothing yet",
    )
    kind, reason = why([_pod("s-1", simulated=True), _pod("s-2", started=False)])
    assert kind == logs.SIMULATED
    assert logs.FAKE_LOG_FILE in reason
    assert "`airpool dev up --nodes real`" in reason
    assert why([_pod("s-1", simulated=True)], filtered=True)[0] == logs.SIMULATED  # a search cannot help there
    assert why([_pod("s-1")], filtered=True) == (
        logs.FILTERED,
        "its pods run (s-1), but none of their lines matches the search and time asked for",
    )
    assert why([_pod(f"s-{i}") for i in range(5)]) == (
        logs.QUIET,
        "the scheduler has logged nothing yet (running: s-0, s-1, s-2 and 2 more)",
    )
