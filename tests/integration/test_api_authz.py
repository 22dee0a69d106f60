"""Who may do what through the API, over real HTTP on SQLite and PostgreSQL: roles, workspace isolation, tokens.

Errors must never name another workspace's objects: the only names in a refusal are the ones the caller sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from airpool.services.platform import Platform
from tests.support import platform as tp
from tests.support.api_server import PASSWORD, GraphQL, MovableClock, make_platform, running_app

POOL = ("pool-a", "pool-b", "pool-c", "pool-d")
FORBIDDEN = "You do not have the appropriate permissions for that"
CREATE = """
mutation($label: String!, $ws: Uuid!, $ns: String) {
  createDeployment(label: $label, workspaceUuid: $ws, executor: LocalExecutor, namespace: $ns) { id releaseName }
}"""
DELETE = "mutation($id: Uuid!) { deleteDeployment(deploymentUuid: $id, deploymentHardDelete: true) { id } }"
LIST = "query($ws: Uuid!) { workspaceDeployments(workspaceUuid: $ws) { id label releaseName } }"


@dataclass
class World:
    anonymous: GraphQL
    admin: GraphQL
    clock: MovableClock
    alpha: str  # workspace ids
    bravo: str

    def user(self, username: str, workspace: str, role: str) -> GraphQL:
        self.admin.data(
            "mutation($e: String!, $p: String!) { createUser(email: $e, password: $p) { user { id } } }",
            {"e": username, "p": PASSWORD},
        )
        self.admin.data(
            "mutation($w: Uuid!, $e: String!, $r: Role) { workspaceAddUser(workspaceUuid: $w, email: $e, role: $r) "
            "{ id } }",
            {"w": workspace, "e": username, "r": role},
        )
        return self.anonymous.login(username)


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    clock = MovableClock()
    plat: Platform = make_platform(database_url, tp.config(pool_names=POOL, hard_delete=True), clock=clock)
    try:
        with running_app(plat) as base:
            anonymous = GraphQL(base)
            admin = anonymous.signup("root")
            create_ws = "mutation($l: String!) { createWorkspace(label: $l) { id } }"
            alpha = admin.data(create_ws, {"l": "Alpha Secret Project"})["createWorkspace"]["id"]
            bravo = admin.data(create_ws, {"l": "Bravo Secret Project"})["createWorkspace"]["id"]
            yield World(anonymous=anonymous, admin=admin, clock=clock, alpha=alpha, bravo=bravo)
    finally:
        plat.close()


def _deployment_count(client: GraphQL) -> int:
    return len(client.data("{ paginatedDeployments(take: -1) { id } }")["paginatedDeployments"])


def test_viewer_reads_but_cannot_create_or_delete(world: World) -> None:
    viewer = world.user("vera", world.alpha, "WORKSPACE_VIEWER")
    error = viewer.error(CREATE, {"label": "mine", "ws": world.alpha, "ns": "pool-a"})
    assert error["message"] == FORBIDDEN
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert viewer.data("{ availableNamespaces { name } }")["availableNamespaces"][0] == {"name": "pool-a"}

    dep = world.admin.data(CREATE, {"label": "theirs", "ws": world.alpha, "ns": "pool-b"})["createDeployment"]
    assert viewer.error(DELETE, {"id": dep["id"]})["message"] == FORBIDDEN
    assert [d["id"] for d in viewer.data(LIST, {"ws": world.alpha})["workspaceDeployments"]] == [dep["id"]]
    assert _deployment_count(world.admin) == 1


def test_editor_creates_and_deletes_in_own_workspace(world: World) -> None:
    editor = world.user("eddie", world.alpha, "WORKSPACE_EDITOR")
    dep = editor.data(CREATE, {"label": "ok", "ws": world.alpha, "ns": "pool-a"})["createDeployment"]
    assert editor.data(DELETE, {"id": dep["id"]}) == {"deleteDeployment": {"id": dep["id"]}}


def test_member_of_one_workspace_cannot_see_or_touch_another(world: World) -> None:
    alice = world.user("alice", world.alpha, "WORKSPACE_EDITOR")
    bob = world.user("bob", world.bravo, "WORKSPACE_EDITOR")
    secret = bob.data(CREATE, {"label": "Bravo payroll", "ws": world.bravo, "ns": "pool-c"})["createDeployment"]

    assert [w["id"] for w in alice.data("{ workspaces { id } }")["workspaces"]] == [world.alpha]
    assert alice.data("query($w: Uuid!) { workspace(workspaceUuid: $w) { id label } }", {"w": world.bravo}) == {
        "workspace": None
    }
    assert alice.data("{ paginatedDeployments(take: -1) { id } }") == {"paginatedDeployments": []}

    refusals: list[dict[str, Any]] = [
        alice.error(LIST, {"ws": world.bravo}),
        alice.error(CREATE, {"label": "intrude", "ws": world.bravo, "ns": "pool-d"}),
        alice.error(DELETE, {"id": secret["id"]}),
    ]
    for error in refusals:
        assert error["extensions"]["code"] == "NOT_FOUND"
        for leaked in ("Bravo", "payroll", secret["releaseName"], "pool-c", "bob"):
            assert leaked not in error["message"], error
    assert refusals[0]["message"] == f"workspace {world.bravo!r} not found"
    assert refusals[2]["message"] == f"deployment {secret['id']!r} not found"
    # Nothing was changed by the refused calls.
    assert [d["id"] for d in bob.data(LIST, {"ws": world.bravo})["workspaceDeployments"]] == [secret["id"]]
    assert _deployment_count(world.admin) == 1


def test_pool_status_early_release_and_full_audit_are_for_system_admins(world: World) -> None:
    alice = world.user("alice", world.alpha, "WORKSPACE_ADMIN")
    for query in (
        "{ poolStatus { enabled } }",
        "{ auditEvents { id } }",
        'mutation { releaseNamespace(name: "pool-a") { name } }',
    ):
        assert alice.error(query)["message"] == FORBIDDEN, query
    status = world.admin.data("{ poolStatus { enabled namespaces { name state } } }")["poolStatus"]
    assert status["enabled"] is True
    assert [n["name"] for n in status["namespaces"]] == list(POOL)
    # A workspace admin sees their own workspace's audit trail.
    events = alice.data(
        "query($w: Uuid!) { auditEvents(workspaceUuid: $w) { action workspaceId } }", {"w": world.alpha}
    )
    assert {e["workspaceId"] for e in events["auditEvents"]} == {world.alpha}


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "no token"),
        ("", "no token"),
        ("Bearer", "malformed or invalid token"),
        ("Bearer two words", "malformed authorization header"),
        ("Basic dXNlcjpwYXNz", "malformed authorization header"),
        ("not-a-token", "malformed or invalid token"),
        ("ap_unknownapitoken", "unknown API token"),
    ],
)
def test_missing_or_malformed_token_is_refused(world: World, header: str | None, reason: str) -> None:
    client = GraphQL(world.anonymous.base)
    headers = {} if header is None else {"authorization": header}
    body = client.post("{ workspaces { id label } }", headers=headers)
    [error] = body["errors"]
    assert error["message"] == "AUTH_TOKEN_REFRESH_FAILED"
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert error["extensions"]["reason"].startswith(reason)
    assert body["data"] is None


def test_bearer_prefix_and_raw_token_both_work(world: World) -> None:
    token = world.admin.token
    assert token is not None
    raw = GraphQL(world.anonymous.base).post("{ self { username } }", headers={"authorization": token})
    bearer = GraphQL(world.anonymous.base).post("{ self { username } }", headers={"authorization": f"Bearer {token}"})
    assert raw == bearer == {"data": {"self": {"username": "root"}}}


def test_expired_and_tampered_tokens_are_refused(world: World) -> None:
    token = world.admin.token
    assert token is not None
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert world.admin.as_(tampered).error("{ workspaces { id } }")["extensions"]["reason"] == (
        "malformed or invalid token"
    )
    world.clock.advance(hours=25)
    error = world.admin.error("{ workspaces { id } }")
    assert error["message"] == "AUTH_TOKEN_REFRESH_FAILED"
    assert "expired" in error["extensions"]["reason"]


def test_api_token_acts_as_its_user(world: World) -> None:
    created = world.admin.data(
        'mutation { createApiToken(label: "ci", expiresInDays: 1) { id label value expiresAt } }'
    )
    value = created["createApiToken"]["value"]
    assert value.startswith("ap_")
    assert world.admin.as_(value).data("{ self { username } }") == {"self": {"username": "root"}}
    world.clock.advance(days=2)
    assert "expired" in world.admin.as_(value).error("{ self { username } }")["extensions"]["reason"]


def test_retry_inspect_and_force_release_through_the_api(world: World, database_url: str) -> None:
    """airpool's recovery operations over real HTTP: who may use them, what they answer, and that they act."""
    from airpool.services import commander_jobs, platform

    plat = platform.connect(tp.config(pool_names=POOL, hard_delete=True), url=database_url, clock=world.clock)
    try:
        editor = world.user("eddie", world.alpha, "WORKSPACE_EDITOR")
        viewer = world.user("vera", world.alpha, "WORKSPACE_VIEWER")
        outsider = world.user("olga", world.bravo, "WORKSPACE_EDITOR")
        dep = editor.data(CREATE, {"label": "stuck", "ws": world.alpha, "ns": "pool-a"})["createDeployment"]
        assert editor.data(DELETE, {"id": dep["id"]})
        leased = commander_jobs.lease(plat, worker_id="w", kinds=(commander_jobs.JobKind.UNINSTALL,))
        assert leased is not None
        commander_jobs.fail(plat, leased.job.id, worker_id="w", error="connection refused", temporary=False)

        again = editor.error(DELETE, {"id": dep["id"]})
        assert again["extensions"]["code"] == "CONFLICT"
        assert again["message"].startswith(f"Deployment {dep['releaseName']} is already deleted: deleted at ")
        deleted = viewer.data(
            "query($id: Uuid!) { deletedDeployment(deploymentUuid: $id) { status statusMessage } }", {"id": dep["id"]}
        )["deletedDeployment"]
        assert deleted["status"] == "deleting"
        assert deleted["statusMessage"].startswith("uninstall failed: connection refused")
        listed = viewer.data("query($w: Uuid!) { deletedDeployments(workspaceUuid: $w) { id } }", {"w": world.alpha})[
            "deletedDeployments"
        ]
        assert listed == [{"id": dep["id"]}]
        jobs_q = "query($id: Uuid!) { deploymentJobs(deploymentUuid: $id) { kind state attempts lastError } }"
        jobs = viewer.data(jobs_q, {"id": dep["id"]})["deploymentJobs"]
        assert jobs[0] == {"kind": "uninstall", "state": "failed", "attempts": 1, "lastError": "connection refused"}
        assert outsider.error(jobs_q, {"id": dep["id"]})["extensions"]["code"] == "NOT_FOUND"

        retry = "mutation($id: Uuid!) { retryDeployment(deploymentUuid: $id) { id kind state attempts } }"
        assert viewer.error(retry, {"id": dep["id"]})["message"] == FORBIDDEN
        assert outsider.error(retry, {"id": dep["id"]})["extensions"]["code"] == "NOT_FOUND"
        assert editor.data(retry, {"id": dep["id"]})["retryDeployment"] == {
            "id": leased.job.id,
            "kind": "uninstall",
            "state": "queued",
            "attempts": 0,
        }
        leased = commander_jobs.lease(plat, worker_id="w", kinds=(commander_jobs.JobKind.UNINSTALL,))
        assert leased is not None
        commander_jobs.fail(plat, leased.job.id, worker_id="w", error="forbidden", temporary=False)

        force = 'mutation { releaseNamespace(name: "pool-a", force: true) { name state healthReason holder { id } } }'
        assert editor.error(force)["message"] == FORBIDDEN
        plain = world.admin.error('mutation { releaseNamespace(name: "pool-a") { name } }')
        assert plain["extensions"]["code"] == "CONFLICT"
        assert "airpool pool release --force pool-a" in plain["message"]
        released = world.admin.data(force)["releaseNamespace"]
        assert released["state"] == "misconfigured"
        assert released["healthReason"].startswith("force-released by an admin")
        assert released["holder"] is None
        assert viewer.data(
            "query($id: Uuid!) { deletedDeployment(deploymentUuid: $id) { id } }", {"id": dep["id"]}
        ) == {"deletedDeployment": None}
    finally:
        plat.close()
