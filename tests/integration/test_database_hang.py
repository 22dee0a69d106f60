"""Issue 11, part 6: a hung database (PostgreSQL stopped with SIGSTOP) no longer hangs every request.

Its own PostgreSQL server (stopping the shared one would stall other tests): the postmaster and every backend
are stopped, so the kernel keeps accepting connections and data and nothing ever errors by itself. Every request,
``/readyz`` included, must still end with JSON and a documented code, and the server recovers when the database
does. No timing is asserted: before the change these requests never ended (the client's own limit fails them).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from airpool.store import engine as store_engine
from tests.support import platform as tp
from tests.support.api_server import PASSWORD, GraphQL, make_platform, running_app
from tests.support.postgres import postgres_server

pytestmark = pytest.mark.postgres

LOGIN = "mutation($u: String, $p: String!) { createToken(identity: $u, password: $p) { token { value } } }"


def _ppid(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def _server_processes(url: str) -> list[int]:
    """The postmaster and all its children (backends, checkpointer, walwriter, ...)."""
    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            backend = int(conn.scalar(sa.text("SELECT pg_backend_pid()")) or 0)
            postmaster = _ppid(backend)  # while the connection is open: its backend exits with it
    finally:
        eng.dispose()
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                if _ppid(int(entry.name)) == postmaster:
                    children.append(int(entry.name))
    return [postmaster, *children]


@contextlib.contextmanager
def stopped(pids: list[int]) -> Iterator[None]:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # a backend that was exiting (a closed connection's) is gone
            os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def test_a_stopped_postgresql_gets_every_request_a_quick_json_answer() -> None:
    with postgres_server() as url:
        plat = make_platform(url, tp.config(pool_names=("pool-a",)))
        try:
            with running_app(plat) as base:
                admin = GraphQL(base).signup("admin")
                assert admin.data("{ workspaces { id } }")["workspaces"]
                with stopped(_server_processes(url)):
                    ready = httpx.get(f"{base}/readyz", timeout=120)
                    assert ready.status_code == 503
                    assert ready.json()["status"] == "unavailable"
                    assert "database unreachable" in ready.json()["reason"]

                    for client, query, variables in (
                        (admin, "{ workspaces { id label } }", None),
                        (GraphQL(base), LOGIN, {"u": "admin", "p": PASSWORD}),
                        (admin, 'mutation { createWorkspace(label: "during the outage") { id } }', None),
                    ):
                        body = httpx.post(
                            f"{base}/v1",
                            json={"query": query, "variables": variables or {}},
                            headers={"authorization": client.token} if client.token else {},
                            timeout=120,
                        ).json()
                        [error] = body["errors"]
                        assert error["extensions"]["code"] == "DATABASE_UNAVAILABLE", error
                        assert "postgresql+psycopg://postgres@127.0.0.1" in error["message"], error
                # The database is back: so is the server, with fresh connections.
                assert admin.data("{ workspaces { label } }")["workspaces"][0]["label"]
                assert httpx.get(f"{base}/readyz", timeout=60).status_code == 200
                labels = [w["label"] for w in admin.data("{ workspaces { label } }")["workspaces"]]
                assert "during the outage" not in labels
        finally:
            plat.close()


def test_the_documented_timeouts_are_what_the_engine_uses() -> None:
    """The figures docs/operations.md names: a PostgreSQL engine connects and runs with them."""
    with postgres_server() as url:
        eng = store_engine.make_engine(url)
        try:
            with eng.connect() as conn:
                assert conn.scalar(sa.text("SHOW statement_timeout")) == f"{store_engine.STATEMENT_TIMEOUT_S}s"
                idle = conn.scalar(sa.text("SHOW idle_in_transaction_session_timeout"))
                assert idle == f"{store_engine.IDLE_IN_TRANSACTION_TIMEOUT_S}s"
        finally:
            eng.dispose()
