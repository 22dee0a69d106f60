"""The operational side of the server: /healthz, /readyz, /metrics, the internal-error contract, the scheduler."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from graphql import GraphQLError

from airpool.api import errors
from airpool.api.scheduler import CronThread, check_schedule
from airpool.domain.errors import ConfigError, PoolExhausted
from airpool.services.platform import Platform
from tests.support import platform as tp
from tests.support.api_server import GraphQL, make_platform, running_app

POOL = ("pool-a", "pool-b")


@pytest.fixture
def plat(database_url: str) -> Iterator[Platform]:
    p = make_platform(database_url, tp.config(pool_names=POOL, hard_delete=True))
    yield p
    p.close()


def test_healthz_and_readyz(plat: Platform) -> None:
    with running_app(plat) as base:
        assert httpx.get(f"{base}/healthz").json()["status"] == "ok"
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 200
        assert ready.json()["status"] == "ready"


def test_readyz_reports_a_schema_that_is_behind(plat: Platform) -> None:
    with plat.db.write() as s:
        s.execute(sa.text("UPDATE alembic_version SET version_num = 'ffffffffffff'"))
    with running_app(plat) as base:
        ready = httpx.get(f"{base}/readyz")
        assert httpx.get(f"{base}/healthz").status_code == 200  # alive, just not ready
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert "ffffffffffff" in ready.json()["reason"]


def test_readyz_reports_an_unreachable_database(database_url: str) -> None:
    """Really break the database under a running server: drop the PostgreSQL database, or put a directory where
    the SQLite file was."""
    plat = make_platform(database_url, tp.config(pool_names=POOL))
    try:
        with running_app(plat) as base:
            assert httpx.get(f"{base}/readyz", timeout=30).status_code == 200
            plat.db.dispose()
            _destroy(database_url)
            ready = httpx.get(f"{base}/readyz", timeout=30)
    finally:
        plat.close()
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert ready.json()["reason"].startswith("database unreachable: DatabaseUnavailable: cannot reach the database")


def _destroy(url: str) -> None:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(str(parsed.database))
        for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)
        path.mkdir()
        return
    admin = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{parsed.database}" WITH (FORCE)'))
    admin.dispose()


def test_metrics_expose_pool_states_refusals_and_latency(plat: Platform) -> None:
    with running_app(plat) as base:
        admin = GraphQL(base).signup()
        ws = admin.data("{ workspaces { id } }")["workspaces"][0]["id"]
        create = (
            'mutation($w: Uuid!) { createDeployment(label: "m", workspaceUuid: $w, executor: LocalExecutor) { id } }'
        )
        before = _sample(httpx.get(f"{base}/metrics").text, "airpool_pool_claims_refused_total")
        for _ in POOL:
            admin.data(create, {"w": ws})
        assert admin.error(create, {"w": ws})["extensions"]["code"] == PoolExhausted.code
        response = httpx.get(f"{base}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert _sample(text, 'airpool_pool_namespaces{state="claimed"}') == 2.0
    assert _sample(text, 'airpool_pool_namespaces{state="available"}') == 0.0
    assert _sample(text, "airpool_pool_claims_refused_total") == before + 1
    assert "airpool_claim_to_healthy_seconds_bucket" in text
    assert "airpool_namespace_release_seconds_bucket" in text
    assert _sample(text, 'airpool_http_request_duration_seconds_count{method="POST",route="/v1",status="2xx"}') >= 4


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in metrics output")


def test_internal_error_shows_only_a_request_id_and_logs_the_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """The mapping itself (pure function): a bug in a resolver must not reach the client."""
    try:
        raise RuntimeError("secret detail: password=hunter2")
    except RuntimeError as exc:
        wrapped = GraphQLError("secret detail: password=hunter2", path=["createDeployment"], original_error=exc)
    token = errors.request_id.set("rid-123")
    try:
        with caplog.at_level(logging.ERROR, logger="airpool.api"):
            formatted = errors.format_error(wrapped)
    finally:
        errors.request_id.reset(token)
    assert formatted["message"] == "internal error (request id rid-123); the server log has the details"
    assert formatted["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "rid-123"}
    assert "hunter2" not in str(formatted)
    [record] = caplog.records
    assert "rid-123" in record.getMessage()
    assert record.exc_info is not None
    assert "hunter2" in str(record.exc_info[1])


def test_cleanup_schedule_is_validated_and_runs_on_time() -> None:
    assert check_schedule("0 5 * * *") == "0 5 * * *"
    with pytest.raises(ConfigError, match="'every day' is not a cron expression"):
        check_schedule("every day")
    ran = threading.Event()
    task = CronThread(name="probe", schedule="* * * * * *", job=ran.set)  # six fields: every second
    task.start()
    try:
        assert ran.wait(timeout=120)
    finally:
        task.stop()
    assert task.runs >= 1
