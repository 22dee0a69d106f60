"""Bad input through the API gets a clear error naming what was wrong, and writes nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from airpool.services.platform import Platform
from airpool.store import models
from tests.support import platform as tp
from tests.support.api_server import GraphQL, make_platform, running_app

POOL = ("pool-a", "pool-b")
CREATE = """
mutation($label: String!, $ws: Uuid!, $executor: ExecutorType!, $ns: String) {
  createDeployment(label: $label, workspaceUuid: $ws, executor: $executor, namespace: $ns) { id }
}"""


@dataclass
class Env:
    plat: Platform
    admin: GraphQL
    workspace: str

    def snapshot(self) -> dict[str, Any]:
        """Everything a create could have written: rows per table and the pool's states."""
        with self.plat.db.read() as s:
            counts = {
                t.__tablename__: s.scalar(sa.select(sa.func.count()).select_from(t))
                for t in (models.Deployment, models.CommanderJob, models.AuditEvent, models.Workspace)
            }
            states = dict(s.execute(sa.select(models.PoolNamespace.name, models.PoolNamespace.state)).all())
        return {"counts": counts, "pool": states}


@pytest.fixture
def env(database_url: str) -> Iterator[Env]:
    plat = make_platform(database_url, tp.config(pool_names=POOL, hard_delete=True))
    try:
        with running_app(plat) as base:
            admin = GraphQL(base).signup("admin")
            workspace = admin.data("{ workspaces { id } }")["workspaces"][0]["id"]
            yield Env(plat=plat, admin=admin, workspace=workspace)
    finally:
        plat.close()


def _refused(env: Env, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    before = env.snapshot()
    error = env.admin.error(query, variables)
    assert env.snapshot() == before, "a refused request changed the database"
    return error


def _create_vars(env: Env, **overrides: Any) -> dict[str, Any]:
    return {"label": "ok", "ws": env.workspace, "executor": "CeleryExecutor", "ns": "pool-a", **overrides}


def test_unknown_workspace(env: Env) -> None:
    unknown = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
    error = _refused(env, CREATE, _create_vars(env, ws=unknown))
    assert error["message"] == f"workspace {unknown!r} not found"
    assert error["extensions"]["code"] == "NOT_FOUND"


def test_workspace_id_that_is_not_a_uuid(env: Env) -> None:
    error = _refused(env, CREATE, _create_vars(env, ws="sales-team"))
    assert "$ws" in error["message"]
    assert "'sales-team' is not a UUID" in error["message"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_bad_executor_names_the_allowed_values(env: Env) -> None:
    error = _refused(env, CREATE, _create_vars(env, executor="SequentialExecutor"))
    assert "$executor" in error["message"]
    assert "SequentialExecutor" in error["message"]
    assert "ExecutorType" in error["message"]
    schema = env.admin.data('{ __type(name: "ExecutorType") { enumValues { name } } }')
    assert [v["name"] for v in schema["__type"]["enumValues"]] == [
        "LocalExecutor",
        "CeleryExecutor",
        "KubernetesExecutor",
    ]


def test_label_of_ten_thousand_characters(env: Env) -> None:
    error = _refused(env, CREATE, _create_vars(env, label="x" * 10_000))
    assert error["message"] == "label is 10000 characters long; at most 64 are allowed"
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


def test_namespace_with_uppercase_letters(env: Env) -> None:
    error = _refused(env, CREATE, _create_vars(env, ns="Pool-A"))
    assert "'Pool-A'" in error["message"]
    assert "lower case" in error["message"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


def test_namespace_outside_the_pool_and_taken_namespace(env: Env) -> None:
    outside = _refused(env, CREATE, _create_vars(env, ns="kube-system"))
    assert "'kube-system'" in outside["message"]
    env.admin.data(CREATE, _create_vars(env))
    taken = _refused(env, CREATE, _create_vars(env, label="second"))
    assert taken["message"] == (
        "namespace 'pool-a' is not available: it is used by another Deployment; available: pool-b"
    )
    assert taken["extensions"]["code"] == "CONFLICT"


def test_unsupported_dag_deployment_type(env: Env) -> None:
    query = """
    mutation($ws: Uuid!, $dag: DagDeployment) {
      createDeployment(label: "x", workspaceUuid: $ws, executor: LocalExecutor, namespace: "pool-a",
                       dagDeployment: $dag) { id }
    }"""
    error = _refused(env, query, {"ws": env.workspace, "dag": {"type": "svn", "repositoryUrl": "x"}})
    assert error["message"] == (
        "dagDeployment type 'svn' is not supported; allowed: image (the default), volume (NFS, with "
        "nfsLocation; also accepted as nfs), git_sync (with repositoryUrl)"
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("{ workspaces { id ", "Syntax Error: Expected Name, found <EOF>."),
        ("{ workspaces { id nosuchfield } }", "Cannot query field 'nosuchfield' on type 'Workspace'."),
        (
            "mutation { createDeployment(label: 1) { id } }",
            "Argument 'Mutation.createDeployment(workspaceUuid:)' of type 'Uuid!' is required",
        ),
        ("", "The query must be a string."),
    ],
)
def test_malformed_query_gets_the_parser_message(env: Env, query: str, expected: str) -> None:
    before = env.snapshot()
    body = env.admin.post(query)
    assert any(e["message"].startswith(expected) for e in body["errors"]), body
    assert {e["extensions"]["code"] for e in body["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}
    assert "data" not in body or body["data"] is None
    assert env.snapshot() == before


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"{not json", "request body is not JSON"),
        (b"[1, 2]", "Operation data should be a JSON object"),
        (b'{"query": "{ appConfig { version } }", "variables": [1]}', "Query variables must be a null or an object."),
    ],
)
def test_body_that_is_not_a_graphql_request(env: Env, content: bytes, expected: str) -> None:
    response = httpx.post(
        f"{env.admin.base}/v1", content=content, headers={"content-type": "application/json"}, timeout=30
    )
    assert response.status_code == 200
    assert response.json()["errors"][0]["message"].startswith(expected)
    assert response.headers["x-request-id"]
