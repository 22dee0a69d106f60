"""No double claim: 200 concurrent ``createDeployment`` requests over HTTP against a pool of 50 namespaces give
exactly 50 Deployments on 50 distinct namespaces and 150 empty-pool errors -- on SQLite behind one server, and on
PostgreSQL behind two server processes sharing the database, and behind one ``serve --workers 2`` on either.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from airpool.services import schema
from tests.support import aio
from tests.support.api_server import PASSWORD, GraphQL, serve_process

POOL_SIZE = 50
REQUESTS = 200
EMPTY_POOL = "no kubernetes namespaces are available"
CREATE = """
mutation CreateDeployment($label: String!, $workspaceId: Uuid!, $executor: ExecutorType!) {
  createDeployment(label: $label, workspaceUuid: $workspaceId, executor: $executor) { id releaseName }
}"""

pytestmark = pytest.mark.slow


def _values(tmp_path: Path) -> Path:
    names = "\n".join(f"          - pool-{i:02d}" for i in range(POOL_SIZE))
    path = tmp_path / "values.yaml"
    path.write_text(
        "global:\n  features:\n    namespacePools:\n      enabled: true\n      namespaces:\n"
        f"        create: true\n        names:\n{names}\n"
    )
    return path


@contextlib.contextmanager
def _servers(tmp_path: Path, database_url: str, count: int, *, workers: int = 1) -> Iterator[list[str]]:
    schema.upgrade(database_url)
    values = _values(tmp_path)
    env = {"AIRPOOL_ADMIN_USERNAME": "admin", "AIRPOOL_ADMIN_PASSWORD": PASSWORD}
    extra = ("--workers", str(workers)) if workers > 1 else ()
    with contextlib.ExitStack() as stack:
        bases = [
            stack.enter_context(serve_process(values=values, database_url=database_url, env=env, extra_args=extra)).base
            for _ in range(count)
        ]
        yield bases


async def _storm(bases: Sequence[str], token: str, workspace_id: str) -> list[dict[str, Any]]:
    limits = httpx.Limits(max_connections=REQUESTS, max_keepalive_connections=REQUESTS)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        start = asyncio.Event()

        async def one(i: int) -> dict[str, Any]:
            await start.wait()
            response = await client.post(
                f"{bases[i % len(bases)]}/v1",
                json={
                    "query": CREATE,
                    "variables": {"label": f"storm {i}", "workspaceId": workspace_id, "executor": "LocalExecutor"},
                },
                headers={"authorization": token},
            )
            assert response.status_code == 200
            body: dict[str, Any] = response.json()
            return body

        tasks = [asyncio.create_task(one(i)) for i in range(REQUESTS)]
        await asyncio.sleep(0.2)  # every request is ready: release them together
        start.set()
        return list(await asyncio.gather(*tasks))


def _check(bases: Sequence[str], database_url: str) -> None:
    admin = GraphQL(bases[0]).login("admin")
    workspace_id = admin.data("{ workspaces { id } }")["workspaces"][0]["id"]
    assert admin.token is not None
    bodies = aio.run(_storm(bases, admin.token, workspace_id))

    created = [b["data"]["createDeployment"] for b in bodies if not b.get("errors")]
    errors = [b["errors"][0] for b in bodies if b.get("errors")]
    assert len(created) == POOL_SIZE, Counter(e["message"][:80] for e in errors)
    assert len(errors) == REQUESTS - POOL_SIZE
    assert all(e["message"].startswith(EMPTY_POOL) for e in errors), Counter(e["message"] for e in errors)
    assert {e["extensions"]["code"] for e in errors} == {"NO_NAMESPACE_AVAILABLE"}

    listed = admin.data("{ paginatedDeployments(take: -1) { id namespace releaseName } }")["paginatedDeployments"]
    assert {d["id"] for d in listed} == {d["id"] for d in created}
    namespaces = [d["namespace"] for d in listed]
    assert len(set(namespaces)) == POOL_SIZE
    assert set(namespaces) == {f"pool-{i:02d}" for i in range(POOL_SIZE)}
    assert len({d["releaseName"] for d in listed}) == POOL_SIZE
    status = admin.data("{ poolStatus { namespaces { state holder { id } } } }")["poolStatus"]["namespaces"]
    assert {n["state"] for n in status} == {"claimed"}
    assert len({n["holder"]["id"] for n in status}) == POOL_SIZE
    assert admin.data("{ availableNamespaces { name } }") == {"availableNamespaces": []}

    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT count(*), count(DISTINCT namespace) FROM deployments")).one()
        jobs = conn.execute(sa.text("SELECT count(*) FROM commander_jobs WHERE kind = 'install'")).scalar_one()
    engine.dispose()
    assert tuple(rows) == (POOL_SIZE, POOL_SIZE)
    assert jobs == POOL_SIZE


def test_no_double_claim_on_sqlite_one_server(tmp_path: Path, sqlite_url: str) -> None:
    with _servers(tmp_path, sqlite_url, 1) as bases:
        _check(bases, sqlite_url)


@pytest.mark.postgres
def test_no_double_claim_on_postgresql_two_servers(tmp_path: Path, postgres_url: str) -> None:
    with _servers(tmp_path, postgres_url, 2) as bases:
        _check(bases, postgres_url)


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_no_double_claim_behind_serve_with_two_worker_processes(
    tmp_path: Path, engine: str, request: pytest.FixtureRequest
) -> None:
    url = str(request.getfixturevalue(f"{engine}_url"))
    with _servers(tmp_path, url, 1, workers=2) as bases:
        _check(bases, url)
