"""``airpool serve`` as a user runs it: a real process, real signals, real HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from airpool.devcluster import ClusterInfo
from airpool.services import schema
from tests.support.api_server import PASSWORD, GraphQL, airpool_executable, serve_process
from tests.support.postgres import free_port

VALUES = """\
global:
  features:
    namespacePools:
      enabled: true
      namespaces:
        create: true
        names: [pool-a, pool-b]
"""


@pytest.fixture
def values(tmp_path: Path) -> Path:
    path = tmp_path / "values.yaml"
    path.write_text(VALUES)
    return path


def _run_serve(
    values: Path, database_url: str, *args: str, commander: bool = False, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    flags = [] if commander else ["--no-commander"]
    return subprocess.run(
        [airpool_executable(), "serve", "-f", str(values), "--port", str(free_port()), *flags, *args],
        env={**os.environ, "AIRPOOL_DATABASE_URL": database_url, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_refuses_to_start_on_a_database_without_the_current_schema(values: Path, sqlite_url: str) -> None:
    result = _run_serve(values, sqlite_url)
    assert result.returncode == 1
    assert "has no schema yet" in result.stderr
    # The hint names the command as this airpool was run (here by its path in the virtualenv).
    assert f"run `{airpool_executable()} db upgrade`" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_refuses_a_bad_values_file(tmp_path: Path, sqlite_url: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "global:\n  features:\n    namespacePools:\n      enabled: true\n      namespaces:\n        names: [Bad_Name]\n"
    )
    result = _run_serve(bad, sqlite_url, "--migrate")
    assert result.returncode == 1
    assert "Bad_Name" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_refuses_to_start_when_the_commander_worker_has_no_kubeconfig(
    values: Path, sqlite_url: str, tmp_path: Path
) -> None:
    environ = {"HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "missing"), "AIRPOOL_COMMANDER_KUBECONFIG": ""}
    result = _run_serve(values, sqlite_url, "--migrate", commander=True, env=environ)
    assert result.returncode == 1
    assert "the commander worker could not start" in result.stderr
    assert "--no-commander" in result.stderr
    message = " ".join(result.stderr.split())  # as one line, whatever the terminal's width
    assert ".." not in message
    assert message.count("AIRPOOL_COMMANDER_KUBECONFIG") == 1, message  # the advice is given once
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_port_in_use_fails_before_the_pool_sync_and_commander_start(
    values: Path, sqlite_url: str, dev_cluster: ClusterInfo, workers: str
) -> None:
    """A second `serve` started by mistake on the same port changes nothing and ends at once: before, it synced the
    pool and started commander (its first health pass over the whole pool) before finding the port taken."""
    schema.upgrade(sqlite_url)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = subprocess.run(
            [airpool_executable(), "serve", "-f", str(values), "--port", str(port), "--workers", workers],
            env={
                **os.environ,
                "AIRPOOL_DATABASE_URL": sqlite_url,
                "AIRPOOL_COMMANDER_KUBECONFIG": str(dev_cluster.commander_kubeconfig),
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert f"could not listen on 127.0.0.1:{port}: Address already in use" in done.stderr, output
    assert "worker started" not in output  # commander never started
    assert "pool synced" not in output
    assert "Traceback" not in output
    engine = sa.create_engine(sqlite_url)
    try:
        with engine.connect() as connection:
            assert connection.scalar(sa.text("SELECT count(*) FROM pool_namespaces")) == 0  # nothing written
    finally:
        engine.dispose()


def test_serves_with_migrate_creates_admin_from_env_and_stops_cleanly_on_sigterm(values: Path, sqlite_url: str) -> None:
    env = {"AIRPOOL_ADMIN_USERNAME": "ops", "AIRPOOL_ADMIN_PASSWORD": PASSWORD}
    with serve_process(values=values, database_url=sqlite_url, extra_args=["--migrate"], env=env) as served:
        base, proc = served.base, served.proc
        admin = GraphQL(base).login("ops")
        assert admin.data("{ self { username isSystemAdmin } }")["self"] == {"username": "ops", "isSystemAdmin": True}
        names = admin.data("{ availableNamespaces { name } }")["availableNamespaces"]
        assert names == [{"name": "pool-a"}, {"name": "pool-b"}]
        assert httpx.get(f"{base}/readyz").status_code == 200
        port = int(base.rsplit(":", 1)[1])
        proc.send_signal(signal.SIGTERM)
        # uvicorn finishes the shutdown, then re-raises SIGTERM so the exit status tells how the process ended.
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
        output = served.output()
    assert f"airpool is serving at {base}" in output
    assert "GraphQL API" in output
    assert "created 'ops' from AIRPOOL_ADMIN_USERNAME/PASSWORD" in output
    assert 'msg="pool synced: 2 added (pool-a, pool-b), 0 retired, 0 returned"' in output
    assert "stopping scheduled cleanup" in output
    assert "Application shutdown complete" in output
    assert "Traceback" not in output
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0  # nothing listens any more


def test_a_client_gone_before_its_body_is_in_is_no_error_in_the_log(values: Path, tmp_path: Path) -> None:
    """A client that closes its connection half-way through a body (a CLI killed mid-request) was logged as
    ``Exception in ASGI application`` with a traceback, for the API and the UI alike."""
    url = f"sqlite:///{tmp_path / 'gone.db'}"
    schema.upgrade(url)
    with serve_process(values=values, database_url=url) as served:
        port = int(served.base.rsplit(":", 1)[1])
        for path, kind in (("/v1", "application/json"), ("/login", "application/x-www-form-urlencoded")):
            with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
                conn.sendall(
                    f"POST {path} HTTP/1.1\r\nHost: airpool\r\nContent-Type: {kind}\r\nContent-Length: 1000\r\n\r\n"
                    '{"query": '.encode()
                )

        # Each request is counted in /metrics once the server has dealt with it (an exception counts as 5xx).
        def counted() -> str:
            text = httpx.get(f"{served.base}/metrics", timeout=30).text
            posts = [x for x in text.splitlines() if x.startswith("airpool_http_request_duration_seconds_count")]
            return "\n".join(x for x in posts if 'method="POST"' in x)

        deadline = time.monotonic() + 60
        while not ('route="/v1"' in counted() and 'route="/login"' in counted()):
            assert time.monotonic() < deadline, counted()
            time.sleep(0.1)
        assert 'status="5xx"' not in counted(), counted()
        assert "Exception in ASGI application" not in served.output()
        assert "Traceback" not in served.output()
