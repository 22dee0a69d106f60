"""What commander finds of a component's pods when a log read has no lines, with its own identity against the dev
cluster's API server: none yet, one that cannot start, one that runs on a fake (kwok) node where no container runs,
and one a kubelet reports with its container (the status a real node writes, written here as the kubelet would)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import lightkube
from lightkube import ApiError
from lightkube.models.core_v1 import (
    Container,
    ContainerState,
    ContainerStateRunning,
    ContainerStatus,
    PodSpec,
    PodStatus,
)
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Pod

from airpool.commander import logs as kube_logs
from airpool.devcluster import ClusterInfo
from airpool.domain import logs as domain_logs
from airpool.manifests.airflow import common
from tests.support import cluster as cluster_support
from tests.support import commander_env

DEPLOYMENT = "dep-log-pods"


def _pod(name: str, component: str, *, schedulable: bool) -> Pod:
    labels = {common.DEPLOYMENT_LABEL: DEPLOYMENT, common.COMPONENT_LABEL: component}
    return Pod(
        metadata=ObjectMeta(name=name, labels=labels),
        spec=PodSpec(
            containers=[Container(name=component, image="apache/airflow:3.3.2")],
            automountServiceAccountToken=False,
            # no node carries this label: the pod stays Pending, as one waiting for room on a full cluster
            nodeSelector=None if schedulable else {"airpool.io/no-such-node": "true"},
        ),
    )


def _create(admin: lightkube.Client, namespace: str, pod: Pod) -> None:
    def created() -> bool:  # the namespace's default ServiceAccount comes a moment after the namespace
        with contextlib.suppress(ApiError):
            admin.create(pod, namespace=namespace)
            return True
        return False

    cluster_support.wait_for(created, timeout=60, interval=0.5, what=f"pod {pod.metadata and pod.metadata.name}")


def _why(found: list[domain_logs.PodLog], component: str, namespace: str) -> tuple[str, str]:
    return domain_logs.why_no_lines(
        found, component=component, namespace=namespace, executor="CeleryExecutor", filtered=False
    )


def test_commander_says_which_pods_have_a_log_and_which_run_on_fake_nodes(
    dev_cluster: ClusterInfo, admin_client: lightkube.Client, commander_client: lightkube.Client
) -> None:
    with commander_env.pool_namespace(admin_client) as namespace:

        def where(component: str) -> kube_logs.Where:
            return kube_logs.Where(namespace=namespace, deployment_id=DEPLOYMENT, component=component)

        assert kube_logs.pods(commander_client, where("scheduler")) == []
        assert _why([], "scheduler", namespace) == (
            domain_logs.NO_POD,
            f"no scheduler pod exists in namespace {namespace}: commander has not started it yet, or the Deployment "
            "runs none",
        )

        # A pod no node takes: not started, no log to read.
        _create(admin_client, namespace, _pod("sched-waiting", "scheduler", schedulable=False))
        waiting = kube_logs.pods(commander_client, where("scheduler"))
        assert [(p.pod, p.phase, p.started) for p in waiting] == [("sched-waiting", "Pending", False)]
        assert kube_logs.targets(commander_client, where("scheduler")) == []
        kind, reason = _why(waiting, "scheduler", namespace)
        assert kind == domain_logs.NOT_STARTED
        assert reason == "the scheduler pod sched-waiting is not running yet (Pending), so it has logged nothing yet"

        # On a fake node: it turns Running, but no runtime names a container.
        _create(admin_client, namespace, _pod("trig-fake", "triggerer", schedulable=True))
        cluster_support.wait_for(
            lambda: any(p.started for p in kube_logs.pods(commander_client, where("triggerer"))),
            timeout=120,
            interval=0.5,
            what="the fake node to start the triggerer pod",
        )
        fake = kube_logs.pods(commander_client, where("triggerer"))
        assert [(p.pod, p.phase, p.started, p.simulated) for p in fake] == [("trig-fake", "Running", True, True)]
        assert kube_logs.targets(commander_client, where("triggerer")) == [kube_logs.Target("trig-fake", "triggerer")]
        kind, reason = _why(fake, "triggerer", namespace)
        assert kind == domain_logs.SIMULATED
        assert reason.startswith("the triggerer pods run on simulated nodes (kwok's fake nodes of the dev cluster)")

        # What a real node's kubelet reports for a started container: its runtime's container ID.
        _create(admin_client, namespace, _pod("sched-real", "scheduler", schedulable=False))
        running = ContainerState(running=ContainerStateRunning(startedAt=datetime.now(UTC)))
        status = ContainerStatus(
            name="scheduler",
            image="apache/airflow:3.3.2",
            imageID="",
            ready=True,
            restartCount=0,
            started=True,
            state=running,
            containerID="containerd://0123456789abcdef",
        )
        admin_client.apply(
            Pod.Status(
                metadata=ObjectMeta(name="sched-real", namespace=namespace),
                status=PodStatus(phase="Running", containerStatuses=[status]),
            ),
            name="sched-real",
            namespace=namespace,
            field_manager="test-as-kubelet",
            force=True,
        )
        both = kube_logs.pods(commander_client, where("scheduler"))
        assert [(p.pod, p.started, p.simulated) for p in both] == [
            ("sched-real", True, False),
            ("sched-waiting", False, False),
        ]
        assert _why(both, "scheduler", namespace) == (
            domain_logs.QUIET,
            "the scheduler has logged nothing yet (running: sched-real)",
        )
