"""Issue 11, part 6: any input gets a bounded, clean answer (real server, SQLite and PostgreSQL).

- U+0000 in any string (argument literal, variable, JSON, UI form, or a service called directly): BAD_USER_INPUT
  naming the field, the same on both databases, nothing written;
- numbers that would overflow (``expiresInDays: 3000000``, Ints beyond 32 bits): a clear refusal;
- a query nested or aliased into an exponential answer: refused before it runs;
- a body over the limit: refused from its Content-Length, or while it streams in, without reading the rest.
"""

from __future__ import annotations

import io
import json
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa

from airpool import logfmt
from airpool.domain.errors import InvalidInput
from airpool.services import auth, workspaces
from airpool.services.platform import Platform
from airpool.store import models
from tests.support import platform as tp
from tests.support.api_server import GraphQL, make_platform, running_app

NUL = "\u0000"


@dataclass
class Env:
    plat: Platform
    base: str
    admin: GraphQL
    workspace: str

    def snapshot(self) -> dict[str, int]:
        with self.plat.db.read() as s:
            return {
                t.__tablename__: int(s.scalar(sa.select(sa.func.count()).select_from(t)) or 0)
                for t in (
                    models.User,
                    models.Workspace,
                    models.RoleBinding,
                    models.Deployment,
                    models.ApiToken,
                    models.CommanderJob,
                    models.AuditEvent,
                )
            }


@pytest.fixture
def env(database_url: str) -> Iterator[Env]:
    plat = make_platform(database_url, tp.config(pool_names=("pool-a",), hard_delete=True))
    try:
        with running_app(plat, with_ui=True) as base:
            admin = GraphQL(base).signup("admin")
            workspace = admin.data("{ workspaces { id } }")["workspaces"][0]["id"]
            yield Env(plat=plat, base=base, admin=admin, workspace=workspace)
    finally:
        plat.close()


# -- U+0000 ---------------------------------------------------------------------------------------------------

#: (operation, variables, the field the message must name); every string input a client can send.
NUL_VARIABLES = [
    (
        "mutation($i: String, $p: String!) { createToken(identity: $i, password: $p) { token { value } } }",
        {"i": f"bob{NUL}", "p": "x"},
        "$i",
    ),
    (
        "mutation($i: String, $p: String!) { createToken(identity: $i, password: $p) { token { value } } }",
        {"i": "admin", "p": f"x{NUL}"},
        "$p",
    ),
    ("mutation($l: String!) { createWorkspace(label: $l) { id } }", {"l": f"team{NUL}"}, "$l"),
    (
        "mutation($l: String!, $d: String) { createWorkspace(label: $l, description: $d) { id } }",
        {"l": "team", "d": f"about{NUL}"},
        "$d",
    ),
    (
        "mutation($u: String!, $p: String!) { signup(username: $u, password: $p) { token { value } } }",
        {"u": f"eve{NUL}", "p": "long enough pw"},
        "$u",
    ),
    (
        "mutation($e: String!, $p: String!, $x: JSON) {"
        " createUser(email: $e, password: $p, profile: $x) { user { id } } }",
        {"e": "carol@example.com", "p": "long enough pw", "x": {"fullName": f"Carol{NUL}"}},
        "$x.fullName",
    ),
    ("query($n: String) { paginatedDeployments(name: $n) { id } }", {"n": f"etl{NUL}"}, "$n"),
    ("mutation($l: String!) { createApiToken(label: $l) { id } }", {"l": f"ci{NUL}"}, "$l"),
    ("mutation($n: String!) { releaseNamespace(name: $n) { name } }", {"n": f"pool-a{NUL}"}, "$n"),
]


@pytest.mark.parametrize(("query", "variables", "field"), NUL_VARIABLES)
def test_nul_in_any_variable_is_bad_user_input_naming_it(
    env: Env, query: str, variables: dict[str, Any], field: str
) -> None:
    before = env.snapshot()
    error = env.admin.error(query, variables)
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert field in error["message"], error
    assert "U+0000" in error["message"], error
    assert env.snapshot() == before


def test_nul_in_deployment_inputs_and_json_config(env: Env) -> None:
    create = """mutation($ws: Uuid!, $l: String!, $d: String, $r: String, $c: JSON, $dag: DagDeployment) {
      createDeployment(workspaceUuid: $ws, label: $l, description: $d, releaseName: $r, executor: CeleryExecutor,
                       config: $c, dagDeployment: $dag) { id } }"""
    good = {"ws": env.workspace, "l": "etl"}
    before = env.snapshot()
    for extra, field in (
        ({"l": f"etl{NUL}"}, "$l"),
        ({"d": f"d{NUL}"}, "$d"),
        ({"r": f"etl{NUL}"}, "$r"),
        ({"c": {"env": [{"name": f"A{NUL}", "value": "1"}]}}, "$c.env[0].name"),
        ({"c": {f"k{NUL}": 1}}, "a key in variable $c"),
        ({"dag": {"type": "nfs", "nfsLocation": f"h:/p{NUL}"}}, "$dag.nfsLocation"),
    ):
        error = env.admin.error(create, {**good, **extra})
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        assert field in error["message"], (field, error)
    assert env.snapshot() == before


def test_nul_in_a_query_literal_names_the_argument_without_a_token(env: Env) -> None:
    """The issue's example: ``createToken(identity:"bob\\u0000", password:"x")`` with no token at all."""
    anonymous = GraphQL(env.base)
    error = anonymous.error('mutation { createToken(identity: "bob\\u0000", password: "x") { token { value } } }')
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"] == "argument identity of createToken must not contain the character U+0000 (NUL); remove it"
    error = env.admin.error('mutation { createWorkspace(label: "a", description: "x\\u0000") { id } }')
    assert "argument description of createWorkspace" in error["message"]


def test_services_refuse_nul_the_same_on_both_databases(env: Env) -> None:
    """The last line, for callers that skip the API (CLI in-process, UI, future code): the store refuses text
    holding U+0000 with the column's name, before either database sees it."""
    actor = auth.authenticate(env.plat, env.admin.token)
    before = env.snapshot()
    with pytest.raises(InvalidInput, match=r"^description must not contain the character U\+0000"):
        workspaces.create(env.plat, actor, label="ok", description=f"x{NUL}y")
    with pytest.raises(InvalidInput, match=r"^username must not contain the character U\+0000"):
        auth.login(env.plat, username=f"admin{NUL}", password="whatever pw")
    assert env.snapshot() == before


def test_nul_in_a_ui_form_is_refused_naming_the_field(env: Env) -> None:
    with httpx.Client(base_url=env.base, timeout=30) as browser:
        page = browser.get("/login")
        csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        answer = browser.post("/login", data={"csrf_token": csrf, "username": f"admin{NUL}", "password": "x"})
    assert answer.status_code == 400
    assert "username" in answer.text
    assert "U+0000" in answer.text


# -- numbers --------------------------------------------------------------------------------------------------


def test_api_token_lifetime_that_overflows_the_calendar_is_refused(env: Env) -> None:
    before = env.snapshot()
    error = env.admin.error('mutation { createApiToken(label: "z", expiresInDays: 3000000) { id } }')
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "expiresInDays must be between 1 and 3650" in error["message"]
    assert env.snapshot() == before
    token = env.admin.data('mutation { createApiToken(label: "z", expiresInDays: 3650) { expiresAt } }')
    assert token["createApiToken"]["expiresAt"].startswith(str(env.plat.now().year + 10)[:3])


@pytest.mark.parametrize(
    "query",
    [
        'mutation { createApiToken(label: "z", expiresInDays: 99999999999999999999) { id } }',
        "{ paginatedDeployments(take: 4294967296) { id } }",
        "{ auditEvents(take: -99999999999) { id } }",
    ],
)
def test_integers_beyond_32_bits_are_refused_by_validation(env: Env, query: str) -> None:
    error = env.admin.error(query)
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "Int cannot represent non 32-bit signed integer value" in error["message"]


def test_huge_pages_are_answered_not_crashed(env: Env) -> None:
    body = env.admin.post("{ paginatedDeployments(take: 2147483647, pageNumber: 2147483647) { id } }")
    assert body == {"data": {"paginatedDeployments": []}}


# -- cost and depth -------------------------------------------------------------------------------------------


def _nested(levels: int) -> str:
    """The issue's query: workspaces { roleBindings { workspace { roleBindings ... } } }, ``levels`` fields deep."""
    names = ["workspaces", *(["roleBindings", "workspace"] * levels)][:levels]
    leaf = "role" if names[-1] == "roleBindings" else "id"
    return "{ " + " { ".join(names) + " { " + leaf + " }" + " }" * levels


def test_the_eleven_level_query_is_refused_before_it_runs(env: Env) -> None:
    query = _nested(11)
    assert query.count("{") == 12
    body = GraphQL(env.base, env.admin.token).post(query)
    assert body.get("data") is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "lists in one another" in error["message"] or "levels deep" in error["message"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (_nested(4), "the query nests 3 lists in one another (workspaces.roleBindings.workspace.roleBindings)"),
        (
            "{ "
            + " ".join(f"a{i}: workspaces {{ roleBindings {{ role user {{ id username }} }} }}" for i in range(40))
            + " }",
            "the query asks for too much at once",
        ),
        (
            "fragment F on Workspace { roleBindings { workspace { roleBindings { role } } } }"
            " query { workspaces { ...F } }",
            "the query nests 3 lists",
        ),
        (
            "{ __schema { types { fields { type { fields { type { fields { type { fields { name } } } } } } } } } }",
            "Maximum introspection depth exceeded",  # graphql-core's own rule comes first
        ),
        (
            "{ self { " + "".join(f"a{i}: username " for i in range(10_001)) + "} }",
            "Document contains more than 10000 tokens",
        ),
    ],
)
def test_costly_queries_are_refused(env: Env, query: str, expected: str) -> None:
    error = env.admin.error(query)
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert expected in error["message"], error


def test_the_cli_queries_and_introspection_still_pass(env: Env) -> None:
    from graphql import get_introspection_query

    from airpool.cli import queries

    assert env.admin.data(get_introspection_query(descriptions=True))["__schema"]["queryType"]["name"] == "Query"
    assert env.admin.data(queries.WORKSPACES)["workspaces"]
    deep_but_fine = "{ workspaces { id roleBindings { role user { id username } workspace { id label } } } }"
    assert env.admin.data(deep_but_fine)["workspaces"][0]["roleBindings"][0]["role"] == "WORKSPACE_ADMIN"


# -- body size ------------------------------------------------------------------------------------------------


def _raw_exchange(base: str, head: bytes, body_parts: list[bytes]) -> bytes:
    """Send a request by hand (headers, some body, then nothing more) and read the answer the server gives
    without waiting for the rest of the body."""
    url = urlsplit(base)
    with socket.create_connection((url.hostname, url.port), timeout=60) as sock:
        sock.sendall(head)
        for part in body_parts:
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server answered and closed: it stopped reading, as it should
        received = b""
        while b"\r\n\r\n" not in received or not _complete(received):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


def _complete(received: bytes) -> bool:
    head, _, body = received.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return False


def test_a_declared_400_mb_body_is_refused_without_reading_it(env: Env) -> None:
    head = b"POST /v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 400000000\r\n\r\n"
    answer = _raw_exchange(env.base, head, [b'{"query": "'])  # 11 bytes of 400 MB: the rest never comes
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    payload = json.loads(answer.partition(b"\r\n\r\n")[2])
    assert payload["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"
    assert "larger than 1000000 bytes" in payload["errors"][0]["message"]


def test_a_chunked_body_is_refused_once_it_passes_the_limit(env: Env) -> None:
    head = b"POST /v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"x" * 65536
    parts = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * 20  # 1.3 MB, and no final chunk: the body never ends
    answer = _raw_exchange(env.base, head, parts)
    payload = json.loads(answer.partition(b"\r\n\r\n")[2])
    assert payload["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"


def test_a_ui_form_over_the_limit_is_refused_without_reading_it(env: Env) -> None:
    head = (
        b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 400000000\r\n\r\n"
    )
    answer = _raw_exchange(env.base, head, [b"username=a"])
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"larger than 65536 bytes" in answer


# -- the log keeps the cause ----------------------------------------------------------------------------------


def test_a_database_error_in_the_log_keeps_its_cause_not_only_the_link(env: Env) -> None:
    stream = io.StringIO()
    handler = logfmt.configure(stream=stream, logger="airpool.test.bounds")
    try:
        try:
            with env.plat.db.write() as s:
                s.execute(sa.text("SELECT no_such_column FROM users"))
        except sa.exc.DBAPIError:
            logging.getLogger("airpool.test.bounds").error("request x: internal error", exc_info=True)
    finally:
        logging.getLogger("airpool.test.bounds").removeHandler(handler)
    line = stream.getvalue()
    assert "no_such_column" in line, line
    assert "sqlalche.me" not in line
    assert "stack=" in line
    assert "test_api_bounds.py" in line
