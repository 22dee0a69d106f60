"""Deployment logs on the whole path, on the dev cluster's fake nodes, one Deployment for the module: as the astro
CLI reads them from a Houston 0.37 server (its exact ``GetLogs`` document over HTTP, its ``log`` subscription over
graphql-ws with a real WebSocket client), with ``airpool deployment logs`` (piped and in a terminal, Ctrl-C), and
on the UI's logs page in Chromium (with and without JavaScript, live tail), against ``airpool serve`` with its
in-process commander. kwok plays the kubelet for the fake pods' logs: every container reads
the dev cluster's one log file (``devcluster.cluster.fake_pod_log``), which the test writes as a container runtime
would (CRI format). The path is user -> server -> commander (its own identity, ``pods/log``) -> API server -> kwok.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import lightkube
import pytest
import yaml
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from airpool.devcluster import ClusterInfo
from airpool.devcluster.cluster import fake_pod_log
from tests.support import cli as airpool_cli
from tests.support import cluster as cluster_support
from tests.support import commander_env
from tests.support import houston_logs as cli
from tests.support.api_server import PASSWORD, GraphQL, serve_process

pytestmark = pytest.mark.slow

STATUS = "query($id: String!) { deployment(where: {id: $id}) { status } }"
CREATE = """
mutation($label: String!, $ws: Uuid!, $executor: ExecutorType!, $namespace: String) {
  createDeployment(label: $label, workspaceUuid: $ws, executor: $executor, namespace: $namespace) { id releaseName }
}"""


def values_file(folder: Path, namespace: str) -> Path:
    pools = {"enabled": True, "createRbac": False, "namespaces": {"create": False, "names": [namespace]}}
    tree = {
        "global": {"features": {"namespacePools": pools}},
        "astronomer": {"houston": {"config": {"deployments": {"hardDeleteDeployment": True}}}},
        "airpool": {"healthCheckInterval": 3600},
    }
    path = folder / "values.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def wait_until(predicate: Any, *, timeout: float, what: str) -> None:
    cluster_support.wait_for(predicate, timeout=timeout, interval=0.3, what=what)


def write_lines(cluster: ClusterInfo, *lines: tuple[datetime, str]) -> None:
    """Append lines to every fake container's log, as containerd writes them (``<time> stdout F <text>``)."""
    with fake_pod_log(cluster.data_dir).open("a") as sink:
        for when, text in lines:
            sink.write(f"{when.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')} stdout F {text}\n")


@dataclass
class Running:
    admin: GraphQL
    base: str
    deployment_id: str
    release: str
    cluster: ClusterInfo
    values: Path
    database: str


@pytest.fixture(scope="module")
def running(
    tmp_path_factory: pytest.TempPathFactory, dev_cluster: ClusterInfo, admin_client: lightkube.Client
) -> Iterator[Running]:
    """One healthy Celery Deployment (scheduler, webserver, workers, triggerer) served with its commander."""
    tmp = tmp_path_factory.mktemp("logs")
    with commander_env.pool_namespace(admin_client) as namespace:
        env = {"AIRPOOL_COMMANDER_KUBECONFIG": str(dev_cluster.commander_kubeconfig)}
        database = f"sqlite:///{tmp / 'airpool.db'}"
        with serve_process(
            values=values_file(tmp, namespace),
            database_url=database,
            extra_args=["--migrate"],
            env=env,
            commander=True,
        ) as served:
            admin = GraphQL(served.base).signup("admin")
            ws = admin.data("query { workspaces { id } }")["workspaces"][0]["id"]
            made = admin.data(CREATE, {"label": "logs", "ws": ws, "executor": "CeleryExecutor", "namespace": namespace})
            dep = made["createDeployment"]
            wait_until(
                lambda: admin.data(STATUS, {"id": dep["id"]})["deployment"]["status"] == "healthy",
                timeout=240,
                what="the Deployment healthy",
            )
            yield Running(
                admin=admin,
                base=served.base,
                deployment_id=dep["id"],
                release=dep["releaseName"],
                cluster=dev_cluster,
                values=tmp / "values.yaml",
                database=database,
            )
            admin.data(
                "mutation($id: Uuid!) { deleteDeployment(deploymentUuid: $id, deploymentHardDelete: true) { id } }",
                {"id": dep["id"]},
            )


def test_the_cli_logs_query_returns_the_lines_after_its_time_with_its_search(running: Running) -> None:
    marker = uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    write_lines(
        running.cluster,
        (now - timedelta(minutes=10), f"{marker} old line"),
        (now - timedelta(seconds=20), f"{marker} scheduler heartbeat"),
        (now - timedelta(seconds=10), f"{marker} ERROR task failed"),
    )
    # `astro deployment logs scheduler <id> --since 1m`
    body = running.admin.post(
        cli.GET_LOGS, cli.variables(running.deployment_id, "scheduler", since=timedelta(minutes=1))
    )
    assert "errors" not in body, body
    mine = [line for line in body["data"]["logs"] if marker in line["log"]]
    assert [line["log"] for line in mine] == [f"{marker} scheduler heartbeat", f"{marker} ERROR task failed"]
    for line in mine:
        assert line["id"]
        assert datetime.fromisoformat(line["createdAt"]) > now - timedelta(minutes=1)
        assert line["createdAt"].endswith("Z")  # Go's RFC 3339 parser needs the zone

    # --search is case-insensitive; each component the CLI names has its own pods
    for component in ("scheduler", "webserver", "worker", "triggerer"):
        found = running.admin.data(
            cli.GET_LOGS, cli.variables(running.deployment_id, component, search="error", since=timedelta(minutes=1))
        )["logs"]
        assert [line["log"] for line in found if marker in line["log"]] == [f"{marker} ERROR task failed"], component

    # without --since the CLI asks for lines after "now": none yet, as Houston answers
    assert running.admin.data(cli.GET_LOGS, cli.variables(running.deployment_id, "scheduler"))["logs"] == []

    # airpool's own fields: the pod that wrote each line, Houston's component name, a limit
    newest = running.admin.data(
        'query($id: Uuid!) { logs(deploymentUuid: $id, component: "webserver", limit: 1) '
        "{ message component release pod timestamp } }",
        {"id": running.deployment_id},
    )["logs"]
    assert len(newest) == 1
    assert newest[0]["message"] == f"{marker} ERROR task failed"
    assert newest[0]["component"] == "webserver"  # the API server on Airflow 3, by Houston's name
    assert newest[0]["release"] == running.release
    assert newest[0]["pod"].startswith(f"{running.release}-api-server-")


def test_bad_requests_and_callers_without_access_get_clear_errors(running: Running) -> None:
    admin = running.admin
    dep = running.deployment_id
    error = admin.error(cli.GET_LOGS, cli.variables(dep, "flower"))
    assert error["message"] == (
        "component 'flower' has no logs in this Deployment; allowed: scheduler, webserver, triggerer, dag-processor, "
        "workers"
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    future = {**cli.variables(dep, "scheduler"), "timestamp": "2999-01-01T00:00:00Z"}
    assert "is in the future" in admin.error(cli.GET_LOGS, future)["message"]
    bad_time = {**cli.variables(dep, "scheduler"), "timestamp": "yesterday"}
    assert "'yesterday' is not an RFC 3339 time" in admin.error(cli.GET_LOGS, bad_time)["message"]
    assert (
        "limit 0 is out of range"
        in admin.error(
            'query($id: Uuid!) { logs(deploymentUuid: $id, component: "scheduler", limit: 0) { id } }', {"id": dep}
        )["message"]
    )

    # someone with no role in the Deployment's workspace: it does not exist for them
    admin.data(
        "mutation($e: String!, $p: String!) { createUser(email: $e, password: $p) { user { id } } }",
        {"e": "outsider", "p": PASSWORD},
    )
    outsider = GraphQL(running.base).login("outsider")
    assert outsider.error(cli.GET_LOGS, cli.variables(dep, "scheduler"))["message"] == f"deployment '{dep}' not found"
    # no token at all: Houston's message, which the CLI turns into "log in again"
    assert GraphQL(running.base).error(cli.GET_LOGS, cli.variables(dep, "scheduler"))["message"] == (
        "AUTH_TOKEN_REFRESH_FAILED"
    )


def _ws(base: str) -> ClientConnection:
    return connect(base.replace("http://", "ws://") + "/ws", subprotocols=["graphql-ws"], open_timeout=30)  # type: ignore[list-item]


def _next(conn: ClientConnection, *, timeout: float) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(conn.recv(timeout=timeout))
    return message


def test_the_cli_subscription_streams_a_new_line_within_seconds(running: Running) -> None:
    marker = uuid.uuid4().hex[:8]
    with _ws(running.base) as conn:
        assert conn.subprotocol == "graphql-ws"
        # as the CLI: init and start at once, no id, no wait for the ack
        conn.send(json.dumps({"type": "connection_init", "payload": {"authorization": running.admin.token}}))
        conn.send(json.dumps(cli.start_message(running.deployment_id, "scheduler", search=marker)))
        assert _next(conn, timeout=30)["type"] == "connection_ack"
        time.sleep(1)  # not a synchronisation: a line written before the follow starts may be missed, by design
        written = datetime.now(UTC)
        write_lines(running.cluster, (written, f"{marker} DAG run started"), (written, "someone else's line"))
        deadline = time.monotonic() + 60
        data = None
        while time.monotonic() < deadline:
            message = _next(conn, timeout=60)
            if message["type"] == "data":
                data = message
                break
            assert message["type"] == "ka", message
        assert data is not None
        received = datetime.now(UTC)
        assert data["id"] == "1"
        line = data["payload"]["data"]["log"]
        assert line["log"] == f"{marker} DAG run started\n"  # the CLI prints it as it is
        assert line["id"]
        print(f"live tail: written -> received in {(received - written).total_seconds():.2f} s")
        assert (received - written) < timedelta(seconds=30)
        # as the CLI's Ctrl-C: a close frame naming the operation
        conn.close(code=1000, reason='{"id":"1","type":"stop"}')


def test_the_subscription_refuses_a_bad_token_and_a_bad_component(running: Running) -> None:
    with _ws(running.base) as conn:
        conn.send(json.dumps({"type": "connection_init", "payload": {"authorization": "not-a-token"}}))
        conn.send(json.dumps(cli.start_message(running.deployment_id, "scheduler")))
        refused = _next(conn, timeout=30)
        assert refused["type"] == "connection_error"
        assert refused["payload"]["message"] == "AUTH_TOKEN_REFRESH_FAILED"
        with pytest.raises(ConnectionClosed) as closed:
            conn.recv(timeout=30)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4401  # the CLI: "Your token has expired. Please log in again."

    with _ws(running.base) as conn:
        conn.send(json.dumps({"type": "connection_init", "payload": {"authorization": running.admin.token}}))
        conn.send(json.dumps({**cli.start_message(running.deployment_id, "flower"), "id": "7"}))
        assert _next(conn, timeout=30)["type"] == "connection_ack"
        refused = _next(conn, timeout=30)
        while refused["type"] == "ka":
            refused = _next(conn, timeout=30)
        # as subscriptions-transport-ws answers: a data message carrying the errors, then complete
        assert refused["type"] == "data"
        assert refused["id"] == "7"
        assert refused["payload"]["data"] is None
        error = {"payload": refused["payload"]["errors"]}
        assert error["payload"][0]["message"].startswith("component 'flower' has no logs in this Deployment")
        assert _next(conn, timeout=30) == {"type": "complete", "id": "7"}


def test_the_airpool_cli_shows_searches_and_follows_logs_and_stops_cleanly_on_ctrl_c(
    running: Running, tmp_path_factory: pytest.TempPathFactory
) -> None:
    config = airpool_cli.login(
        tmp_path_factory.mktemp("cli") / "config.yaml", running.base, username="admin", password=PASSWORD
    )
    marker = uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    write_lines(
        running.cluster,
        (now - timedelta(hours=2), f"{marker} two hours ago"),
        (now - timedelta(seconds=30), f"{marker} INFO started"),
        (now - timedelta(seconds=20), f"{marker} WARNING slow"),
    )
    shown = airpool_cli.run(config, "deployment", "logs", "scheduler", running.release, "--since", "5m", "-s", marker)
    assert shown.code == 0, shown
    assert shown.out.splitlines() == [f"{marker} INFO started", f"{marker} WARNING slow"]
    found = airpool_cli.run(config, "deployment", "logs", "workers", running.release, "-s", f"{marker} warning")
    assert found.out.splitlines() == [f"{marker} WARNING slow"]
    nothing = airpool_cli.run(config, "deployment", "logs", "triggerer", running.release, "-s", "no such text anywhere")
    assert (nothing.code, nothing.out) == (0, ""), nothing
    # It said only "No log lines match.": on fake nodes, say where the lines are and why there are none.
    said = " ".join(nothing.err.split())
    assert said.startswith(
        "No log lines match. Why: the triggerer pods run on simulated nodes (kwok's fake nodes of the dev cluster), "
        "where no Airflow process runs, so nothing writes log lines: every fake container's log is one file of the "
        "dev cluster, .airpool/devcluster/fake-pod-logs/containers.log by default"
    ), nothing
    assert re.search(r"On the dev cluster's real node \(`\S*airpool dev up --nodes real`\) Airflow runs and logs", said)

    bad_since = airpool_cli.run(config, "deployment", "logs", "scheduler", running.release, "--since", "ten")
    assert bad_since.code == 2
    assert "since 'ten' is not a duration; use a number with a unit: 90s, 25m, 1h30m or 2d" in bad_since.err
    bad_component = airpool_cli.run(config, "deployment", "logs", "flower", running.release)
    assert bad_component.code == 1
    assert "component 'flower' has no logs in this Deployment;" in bad_component.err

    # --follow in a terminal: the newest lines first, then a new one as it is written, then Ctrl-C
    child = airpool_cli.spawn(config, "deployment", "logs", "scheduler", running.release, "-f", "-s", marker)
    child.expect_exact(f"{marker} WARNING slow")
    # written right after the backlog shows, perhaps before the subscription starts: it streams from the last line
    # shown, so nothing falls between the two
    later = f"{marker} written while following"
    write_lines(running.cluster, (datetime.now(UTC), later))
    child.expect_exact(later, timeout=60)
    child.sendintr()
    assert airpool_cli.finish(child) == 0
    assert "Traceback" not in (child.before or "")


def test_the_ui_logs_page_searches_without_javascript_and_tails_live_with_it(running: Running, browser: Any) -> None:
    from playwright.sync_api import Page, expect

    from tests.support.browser import check_basics, screenshot

    marker = uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    write_lines(
        running.cluster,
        (now - timedelta(seconds=40), f"{marker} Starting the scheduler"),
        (now - timedelta(seconds=30), f"{marker} ERROR Executor reports task failed"),
        (now - timedelta(seconds=20), f"{marker} Sending heartbeat"),
    )

    def logged_in(*, javascript: bool) -> Page:
        context = browser.new_context(viewport={"width": 1280, "height": 860}, java_script_enabled=javascript)
        context.set_default_timeout(60_000)
        page: Page = context.new_page()
        page.goto(f"{running.base}/login")
        page.get_by_label("Username or email").fill("admin")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        return page

    expect.set_options(timeout=60_000)
    # Without JavaScript: the Deployment page links to its logs; the form filters them; no live tail button.
    page = logged_in(javascript=False)
    page.goto(f"{running.base}/deployments/{running.deployment_id}")
    page.get_by_role("link", name="Logs").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Logs of logs")
    choices = page.get_by_label("Component").locator("option").all_inner_texts()
    assert choices == ["scheduler", "webserver", "triggerer", "dag-processor", "worker"]
    page.get_by_label("Search").fill(f"{marker} error")
    page.get_by_label("Time").select_option("15m")
    page.get_by_role("button", name="Show").click()
    lines = page.locator("[data-log-lines] li")
    expect(lines).to_have_count(1)
    expect(lines.first).to_contain_text(f"{marker} ERROR Executor reports task failed")
    expect(page.get_by_role("button", name="Live tail")).to_be_hidden()
    check_basics(page)
    # a bad time window in the address: the page says what is wrong, with the form to fix it
    response = page.goto(f"{running.base}/deployments/{running.deployment_id}/logs?component=scheduler&since=ten")
    assert response is not None
    assert response.status == 400
    expect(page.get_by_role("alert")).to_contain_text("since 'ten' is not a duration")
    # nothing found: the page says why (fake nodes run no Airflow)
    page.goto(f"{running.base}/deployments/{running.deployment_id}/logs?component=triggerer&search=no+such+text+here")
    expect(page.locator("[data-log-state]")).to_contain_text(
        "No log lines match. Why: the triggerer pods run on simulated nodes (kwok's fake nodes of the dev cluster)"
    )
    page.context.close()

    # With JavaScript: live tail appends a line as it is written, Pause stops it.
    page = logged_in(javascript=True)
    page.goto(f"{running.base}/deployments/{running.deployment_id}/logs?component=webserver&search={marker}&since=15m")
    expect(lines := page.locator("[data-log-lines] li")).to_have_count(3)
    page.get_by_role("button", name="Live tail").click()
    expect(page.locator("[data-log-state]")).to_contain_text("Live")
    write_lines(running.cluster, (datetime.now(UTC), f"{marker} DagRun finished: state=success"))
    expect(lines).to_have_count(4, timeout=30_000)
    expect(lines.last).to_contain_text(f"{marker} DagRun finished: state=success")
    screenshot(page, "deployment-logs")
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("[data-log-state]")).to_have_text("Paused.")
    check_basics(page)
    page.context.close()


def test_live_tails_end_cleanly_and_at_once_when_the_server_stops(
    running: Running, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """SIGTERM to a server with a UI live tail and an ``airpool deployment logs -f`` open: the tail's response ends as
    a complete response (not cut off mid-chunk by uvicorn's graceful-shutdown timeout, which it waited out before),
    the CLI says its stream ended and exits 0, and the server exits without waiting. A second server on the same
    database serves them, so the module's own server keeps running."""
    import signal

    import httpx

    with serve_process(values=running.values, database_url=running.database) as second:
        config = airpool_cli.login(
            tmp_path_factory.mktemp("cli") / "config.yaml", second.base, username="admin", password=PASSWORD
        )
        marker = uuid.uuid4().hex[:8]
        follower = airpool_cli.spawn(config, "deployment", "logs", "scheduler", running.release, "-f", "-s", marker)
        write_lines(running.cluster, (datetime.now(UTC), f"{marker} before the stop"))
        follower.expect_exact(f"{marker} before the stop", timeout=60)
        with httpx.Client(base_url=second.base, timeout=60) as browser:
            form = browser.get("/login").text
            csrf = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            login = {"csrf_token": csrf, "username": "admin", "password": PASSWORD}
            assert browser.post("/login", data=login).status_code == 303
            tail = f"/deployments/{running.deployment_id}/logs/stream"
            with browser.stream("GET", tail, params={"component": "scheduler"}) as answer:
                assert answer.headers["content-type"].startswith("text/event-stream")
                lines = answer.iter_lines()
                assert ": live" in (next(lines) for _ in range(5)), "the live tail did not start"
                stopped_at = time.monotonic()
                second.proc.send_signal(signal.SIGTERM)
                rest = list(lines)  # raises httpx.RemoteProtocolError if the server cut the response off
        assert not any(line.startswith("event: failure") for line in rest), rest
        # uvicorn finishes its shutdown, then re-raises SIGTERM so the exit status tells how the process ended
        assert second.proc.wait(timeout=120) == -signal.SIGTERM
        took = time.monotonic() - stopped_at
        follower.expect_exact("ended; run the command again to go on.", timeout=60)
        assert airpool_cli.finish(follower) == 0
        assert "Traceback" not in (follower.before or "")
        output = second.output()
        assert "graceful shutdown exceeded" not in output, output
        print(f"serve stopped {took:.1f} s after SIGTERM with two live tails open")


ABSENCE = (
    'query($id: Uuid!, $ref: String!) { logsAbsence(deploymentUuid: $id, component: "triggerer") { kind reason } '
    "deployment(where: {id: $ref}) { namespace } }"
)


def test_the_airpool_cli_says_why_a_component_has_no_lines_and_what_to_run_next(
    running: Running, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # With no triggerer pod at all (scaled to 0), "No log lines." gave no pointer.
    config = airpool_cli.login(
        tmp_path_factory.mktemp("cli") / "config.yaml", running.base, username="admin", password=PASSWORD
    )

    def absence() -> dict[str, Any]:
        ids = {"id": running.deployment_id, "ref": running.deployment_id}
        return running.admin.data(ABSENCE, ids)  # type: ignore[no-any-return]

    try:
        scaled = airpool_cli.run(config, "deployment", "update", running.release, "--replicas", "triggerer=0")
        assert scaled.code == 0, scaled
        wait_until(lambda: absence()["logsAbsence"]["kind"] == "no-pod", timeout=180, what="no triggerer pod")
        namespace = absence()["deployment"]["namespace"]
        shown = airpool_cli.run(config, "deployment", "logs", "triggerer", running.release)
        assert (shown.code, shown.out) == (0, ""), shown
        said = " ".join(shown.err.split())
        assert said.startswith(
            f"No log lines. Why: no triggerer pod exists in namespace {namespace}: commander has not started it yet, "
            "or the Deployment runs none."
        ), shown
        assert re.search(
            rf"Next: `\S*airpool deployment jobs {running.release}` shows what commander is doing with the "
            r"Deployment\.$",
            said,
        ), shown
        # Following showed nothing at all until a line came (here: never); it says why, then that it waits.
        child = airpool_cli.spawn(config, "deployment", "logs", "triggerer", running.release, "-f", columns=400)
        child.expect_exact("No log lines yet.")
        child.expect_exact(f"Why: no triggerer pod exists in namespace {namespace}")
        child.expect_exact("Waiting for new lines; Ctrl-C stops.")
        child.sendintr()
        assert airpool_cli.finish(child) == 0
    finally:
        assert airpool_cli.run(config, "deployment", "update", running.release, "--replicas", "triggerer=1").code == 0
        wait_until(lambda: absence()["logsAbsence"]["kind"] == "simulated", timeout=180, what="the triggerer back")
