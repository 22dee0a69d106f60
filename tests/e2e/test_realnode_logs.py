"""Deployment logs from a real Airflow on the dev cluster's real node: Houston's ``logs`` query returns the
scheduler's recent lines as containerd recorded them, and the astro CLI's ``log`` subscription (graphql-ws at
``/ws``) streams a new line within seconds. One LocalExecutor Deployment (Airflow 3, the images built here),
``airpool serve`` with its in-process commander under commander's own token: the path is server -> commander's
log endpoint -> API server -> kubelet.

The new line is written into the scheduler container's own stdout (``/proc/1/fd/1``, by the admin through
``pods/exec``), so it goes through the container runtime's log file and the kubelet like any line the scheduler
prints, at a moment the test chooses.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube.resources.core_v1 import Pod
from websockets.sync.client import connect

from airpool.devcluster import images
from tests.support import commander_env
from tests.support import houston_logs as cli
from tests.support.airflow_realnode import load_aware, wait_until
from tests.support.api_server import GraphQL, serve_process
from tests.support.realnode import RealNodeCluster

pytestmark = [pytest.mark.realnode, pytest.mark.slow]

IMAGE_OVERLAY = Path(__file__).resolve().parents[2] / "examples" / "values-dev-realnode.yaml"
CREATE = """
mutation($ws: Uuid!, $namespace: String) {
  createDeployment(label: "logs", workspaceUuid: $ws, executor: LocalExecutor, namespace: $namespace,
                   airflowVersion: "3.3.2") { id releaseName }
}"""
STATUS = "query($id: String!) { deployment(where: {id: $id}) { status statusMessage } }"
DELETE = "mutation($id: Uuid!) { deleteDeployment(deploymentUuid: $id, deploymentHardDelete: true) { id } }"


def import_images(cluster: RealNodeCluster) -> None:
    configured = yaml.safe_load(IMAGE_OVERLAY.read_text())["airpool"]["images"]
    references = [f"{configured['airflow']['repository']}:3.3.2"] + [
        f"{configured[key]['repository']}:{configured[key]['tag']}" for key in ("postgresql", "pgbouncer", "statsd")
    ]
    for built in images.build([images.by_reference(r) for r in references], report=lambda _: None):
        cluster.import_image(built.archive)


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, real_node_cluster: RealNodeCluster
) -> Iterator[tuple[GraphQL, str, str, str, str]]:
    """(client, server URL, Deployment id, release name, namespace), healthy by Airflow's own word."""
    tmp = tmp_path_factory.mktemp("realnode-logs")
    admin = real_node_cluster.admin_client()
    import_images(real_node_cluster)
    with contextlib.ExitStack() as stack:
        namespace = stack.enter_context(commander_env.pool_namespace(admin))
        pools = {"enabled": True, "createRbac": False, "namespaces": {"create": False, "names": [namespace]}}
        values = tmp / "values.yaml"
        values.write_text(
            yaml.safe_dump(
                {
                    "global": {"features": {"namespacePools": pools}},
                    "astronomer": {"houston": {"config": {"deployments": {"hardDeleteDeployment": True}}}},
                }
            )
        )
        served = stack.enter_context(
            serve_process(
                values=values,
                more_values=[IMAGE_OVERLAY],
                database_url=f"sqlite:///{tmp / 'airpool.db'}",
                extra_args=["--migrate"],
                env={"AIRPOOL_COMMANDER_KUBECONFIG": str(real_node_cluster.info.commander_kubeconfig)},
                commander=True,
                fake_nodes=False,
            )
        )
        client = GraphQL(served.base).signup("admin")
        ws = client.data("query { workspaces { id } }")["workspaces"][0]["id"]
        wait_until(
            lambda: client.data("query { availableNamespaces { name } }")["availableNamespaces"],
            base=120,
            what=lambda: "the pool namespace offered",
        )
        started = time.monotonic()
        made = client.data(CREATE, {"ws": ws, "namespace": namespace})["createDeployment"]

        def status() -> dict[str, Any]:
            found: dict[str, Any] = client.data(STATUS, {"id": made["id"]})["deployment"]
            return found

        wait_until(lambda: status()["status"] == "healthy", base=900, what=lambda: f"healthy (now: {status()})")
        print(f"\nreal-node logs: create -> healthy {time.monotonic() - started:.0f} s", file=sys.stderr)
        yield client, served.base, made["id"], made["releaseName"], namespace
        client.data(DELETE, {"id": made["id"]})
        wait_until(
            lambda: not list(admin.list(Pod, namespace=namespace)), base=300, what=lambda: "the Deployment's pods gone"
        )


def test_logs_returns_the_schedulers_lines_and_the_subscription_streams_a_new_one_within_seconds(
    deployment: tuple[GraphQL, str, str, str, str], real_node_cluster: RealNodeCluster
) -> None:
    client, base, dep_id, release, namespace = deployment
    # The CLI's GetLogs, `astro deployment logs scheduler <id> --since 30m`: what the scheduler printed since it
    # started (the Deployment is younger than that).
    lines = client.data(cli.GET_LOGS, cli.variables(dep_id, "scheduler", since=timedelta(minutes=30)))["logs"]
    assert lines, "the scheduler printed nothing in 30 minutes"
    assert all(line["id"] and line["createdAt"].endswith("Z") for line in lines)
    print(f"real-node logs: {len(lines)} scheduler lines, the last: {lines[-1]['log'][:160]!r}", file=sys.stderr)

    admin = real_node_cluster.admin_client()
    (scheduler,) = [
        p.metadata.name
        for p in admin.list(Pod, namespace=namespace, labels={"component": "scheduler", "release": release})
        if p.metadata is not None and p.status is not None and p.status.phase == "Running"
    ]
    marker = f"airpool-logs-{uuid.uuid4().hex[:8]}"
    with connect(base.replace("http://", "ws://") + "/ws", subprotocols=["graphql-ws"], open_timeout=60) as conn:  # type: ignore[list-item]
        conn.send(json.dumps({"type": "connection_init", "payload": {"authorization": client.token}}))
        # `--follow --since 5s`: lines after that time stream first, so the line below arrives even if it is written
        # before commander's stream from the kubelet is open.
        conn.send(json.dumps(cli.start_message(dep_id, "scheduler", search=marker, since=timedelta(seconds=5))))
        assert json.loads(conn.recv(timeout=60))["type"] == "connection_ack"
        written = time.monotonic()
        admin.exec(
            scheduler,
            namespace=namespace,
            container="scheduler",
            command=["sh", "-c", f"echo '{marker} written to the scheduler log' > /proc/1/fd/1"],
            raise_on_error=True,
            timeout=60,
        )
        received = None
        while received is None:
            message = json.loads(conn.recv(timeout=load_aware(30)))  # TimeoutError fails the test
            if message["type"] == "data":
                received = message
            else:
                assert message["type"] == "ka", message
        seconds = time.monotonic() - written
        line = received["payload"]["data"]["log"]
        assert line["log"] == f"{marker} written to the scheduler log\n"
        print(f"real-node logs: written -> streamed in {seconds:.2f} s", file=sys.stderr)
        conn.close(code=1000, reason='{"id":"1","type":"stop"}')

    # and the query finds it too
    found = client.data(cli.GET_LOGS, cli.variables(dep_id, "scheduler", search=marker, since=timedelta(minutes=5)))
    assert [entry["log"] for entry in found["logs"]][:1] == [f"{marker} written to the scheduler log"]
