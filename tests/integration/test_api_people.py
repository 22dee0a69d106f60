"""People and access through the API, with the astro CLI's exact documents (tests/support/houston_people.py) over
real HTTP on SQLite and PostgreSQL: workspace users, workspace update/delete, Deployment users, service accounts,
teams. Each refusal is checked to change nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from airpool.services.platform import Platform
from airpool.store import models
from tests.support import houston_people as H
from tests.support import platform as tp
from tests.support.api_server import PASSWORD, GraphQL, MovableClock, make_platform, running_app

POOL = ("pool-a", "pool-b", "pool-c", "pool-d")
FORBIDDEN = "You do not have the appropriate permissions for that"
RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
CREATE = """
mutation($label: String!, $ws: Uuid!, $ns: String) {
  createDeployment(label: $label, workspaceUuid: $ws, executor: LocalExecutor, namespace: $ns) { id releaseName }
}"""
DELETE = "mutation($id: Uuid!) { deleteDeployment(deploymentUuid: $id, deploymentHardDelete: true) { id } }"
LIST = "query($ws: Uuid!) { workspaceDeployments(workspaceUuid: $ws) { id } }"
CREATE_USER = "mutation($e: String!, $p: String!) { createUser(email: $e, password: $p) { user { id } } }"


@dataclass
class World:
    plat: Platform
    anonymous: GraphQL
    admin: GraphQL
    alpha: str
    bravo: str

    def account(self, email: str) -> str:
        return str(self.admin.data(CREATE_USER, {"e": email, "p": PASSWORD})["createUser"]["user"]["id"])

    def member(self, email: str, workspace: str, role: str) -> GraphQL:
        self.account(email)
        self.admin.data(H.WORKSPACE_USER_ADD, {"workspaceId": workspace, "email": email, "role": role})
        return self.anonymous.login(email)

    def deployment(self, workspace: str, namespace: str, label: str = "d") -> dict[str, str]:
        created: dict[str, str] = self.admin.data(CREATE, {"label": label, "ws": workspace, "ns": namespace})[
            "createDeployment"
        ]
        return created

    def bindings(self) -> list[tuple[str, str, str]]:
        """Every workspace and Deployment role binding: (scope id, user id, role), for "changed nothing" checks."""
        with self.plat.db.read() as s:
            ws = [(r.workspace_id, r.user_id, r.role) for r in s.scalars(sa.select(models.RoleBinding))]
            dep = [(r.deployment_id, r.user_id, r.role) for r in s.scalars(sa.select(models.DeploymentRoleBinding))]
        return sorted(ws + dep)


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    plat = make_platform(database_url, tp.config(pool_names=POOL, hard_delete=True), clock=MovableClock())
    try:
        with running_app(plat) as base:
            anonymous = GraphQL(base)
            admin = anonymous.signup("root@example.com")
            alpha = admin.data(H.WORKSPACE_CREATE, {"label": "Alpha", "description": "a"})["createWorkspace"]["id"]
            bravo = admin.data(H.WORKSPACE_CREATE, {"label": "Bravo", "description": "b"})["createWorkspace"]["id"]
            yield World(plat=plat, anonymous=anonymous, admin=admin, alpha=alpha, bravo=bravo)
    finally:
        plat.close()


def _workspace_role(user: dict[str, Any], workspace: str) -> str:
    """What the CLI prints: the first WORKSPACE_* binding of that workspace, else NONE."""
    for binding in user["roleBindings"]:
        if binding["role"].startswith("WORKSPACE_") and binding["workspace"]["id"] == workspace:
            return str(binding["role"])
    return "NONE"


# --- workspace users -----------------------------------------------------------------------------------------------


def test_workspace_users_add_list_get_update_remove(world: World) -> None:
    vera_id = world.account("vera@example.com")
    world.account("eddie@example.com")
    added = world.admin.data(
        H.WORKSPACE_USER_ADD, {"workspaceId": world.alpha, "email": "vera@example.com", "role": "WORKSPACE_VIEWER"}
    )["workspaceAddUser"]
    assert added["id"] == world.alpha
    assert added["label"] == "Alpha"
    assert added["description"] == "a"
    assert RFC3339_Z.match(added["createdAt"])
    assert RFC3339_Z.match(added["updatedAt"])
    by_name = {u["username"]: u for u in added["users"]}
    assert set(by_name) == {"root@example.com", "vera@example.com"}
    assert by_name["vera@example.com"]["id"] == vera_id
    assert {"role": "WORKSPACE_VIEWER"} in by_name["vera@example.com"]["roleBindings"]
    world.admin.data(
        H.WORKSPACE_USER_ADD, {"workspaceId": world.alpha, "email": "eddie@example.com", "role": "WORKSPACE_EDITOR"}
    )

    users = world.admin.data(H.WORKSPACE_USERS, {"workspaceUuid": world.alpha})["workspaceUsers"]
    assert [u["username"] for u in users] == ["eddie@example.com", "root@example.com", "vera@example.com"]
    assert {u["username"]: _workspace_role(u, world.alpha) for u in users} == {
        "eddie@example.com": "WORKSPACE_EDITOR",
        "root@example.com": "WORKSPACE_ADMIN",
        "vera@example.com": "WORKSPACE_VIEWER",
    }
    assert users[2]["emails"] == [{"address": "vera@example.com"}]
    assert users[2]["fullName"] == ""

    # the CLI's interactive list: first page with an empty cursor, then next and previous pages by cursor
    page = H.WORKSPACE_USERS_PAGINATED
    first = world.admin.data(page, {"workspaceUuid": world.alpha, "cursorUuid": "", "take": 2})
    names = [u["username"] for u in first["paginatedWorkspaceUsers"]]
    assert names == ["eddie@example.com", "root@example.com"]
    last_id = first["paginatedWorkspaceUsers"][-1]["id"]
    second = world.admin.data(page, {"workspaceUuid": world.alpha, "cursorUuid": last_id, "take": 2})
    assert [u["username"] for u in second["paginatedWorkspaceUsers"]] == ["vera@example.com"]
    back = world.admin.data(page, {"workspaceUuid": world.alpha, "cursorUuid": vera_id, "take": -2})
    assert [u["username"] for u in back["paginatedWorkspaceUsers"]] == names

    got = world.admin.data(H.WORKSPACE_USER_GET, {"workspaceUuid": world.alpha, "email": "vera@example.com"})
    assert got["workspaceUser"]["id"] == vera_id
    assert _workspace_role(got["workspaceUser"], world.alpha) == "WORKSPACE_VIEWER"

    changed = world.admin.data(
        H.WORKSPACE_USER_UPDATE, {"workspaceUuid": world.alpha, "email": "vera@example.com", "role": "WORKSPACE_ADMIN"}
    )
    assert changed == {"workspaceUpsertUserRole": "WORKSPACE_ADMIN"}

    removed = world.admin.data(H.WORKSPACE_USER_REMOVE, {"workspaceId": world.alpha, "userId": vera_id})
    assert removed["workspaceRemoveUser"]["id"] == world.alpha
    assert "vera@example.com" not in [u["username"] for u in removed["workspaceRemoveUser"]["users"]]
    error = world.admin.error(H.WORKSPACE_USER_GET, {"workspaceUuid": world.alpha, "email": "vera@example.com"})
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert "'vera@example.com' is not a member" in error["message"]

    # Workspace.roleBindings as `astro workspace list` selects it
    listed = {w["id"]: w for w in world.admin.data(H.WORKSPACES)["workspaces"]}
    assert {(b["role"], b["user"]["username"]) for b in listed[world.alpha]["roleBindings"]} == {
        ("WORKSPACE_ADMIN", "root@example.com"),
        ("WORKSPACE_EDITOR", "eddie@example.com"),
    }


def test_workspace_user_mistakes_are_clear_and_change_nothing(world: World) -> None:
    world.account("vera@example.com")
    before = world.bindings()
    add = {"workspaceId": world.alpha, "email": "ghost@example.com", "role": "WORKSPACE_VIEWER"}
    error = world.admin.error(H.WORKSPACE_USER_ADD, add)
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert "'ghost@example.com' not found" in error["message"]
    wrong_role = world.admin.error(
        H.WORKSPACE_USER_ADD, {**add, "email": "vera@example.com", "role": "DEPLOYMENT_ADMIN"}
    )
    assert wrong_role["message"] == (
        "role 'DEPLOYMENT_ADMIN' is not a workspace role; allowed: WORKSPACE_ADMIN, WORKSPACE_EDITOR, WORKSPACE_VIEWER"
    )
    assert wrong_role["extensions"]["code"] == "BAD_USER_INPUT"
    demote = {"workspaceUuid": world.alpha, "email": "root@example.com", "role": "WORKSPACE_VIEWER"}
    last_admin = world.admin.error(H.WORKSPACE_USER_UPDATE, demote)
    assert last_admin["extensions"]["code"] == "CONFLICT"
    assert "last admin" in last_admin["message"]
    root_id = world.admin.data("{ self { id } }")["self"]["id"]
    leave = world.admin.error(H.WORKSPACE_USER_REMOVE, {"workspaceId": world.alpha, "userId": root_id})
    assert "last admin" in leave["message"]
    world.admin.data(H.WORKSPACE_USER_ADD, {**add, "email": "vera@example.com"})
    again = world.admin.error(H.WORKSPACE_USER_ADD, {**add, "email": "vera@example.com", "role": "WORKSPACE_ADMIN"})
    assert again["extensions"]["code"] == "CONFLICT"
    assert "already a member" in again["message"]
    after = world.bindings()
    assert len(after) == len(before) + 1  # only the one successful add


# --- workspace update and delete -----------------------------------------------------------------------------------


def test_workspace_update_and_delete(world: World) -> None:
    updated = world.admin.data(
        H.WORKSPACE_UPDATE, {"workspaceId": world.alpha, "payload": {"label": "Alpha 2", "description": "new"}}
    )["updateWorkspace"]
    assert (updated["id"], updated["label"], updated["description"]) == (world.alpha, "Alpha 2", "new")
    bad = world.admin.error(H.WORKSPACE_UPDATE, {"workspaceId": world.alpha, "payload": {"owner": "me"}})
    assert bad["message"] == "payload key 'owner' cannot be changed; allowed: description, label"
    empty = world.admin.error(H.WORKSPACE_UPDATE, {"workspaceId": world.alpha, "payload": {"label": "  "}})
    assert empty["message"] == "workspace label must not be empty"

    first = world.deployment(world.alpha, "pool-a")
    world.deployment(world.alpha, "pool-b")
    refused = world.admin.error(H.WORKSPACE_DELETE, {"workspaceId": world.alpha})
    assert refused["extensions"]["code"] == "CONFLICT"
    assert refused["message"] == (
        "workspace 'Alpha 2' still has 2 Deployments: delete them first (astro deployment delete)"
    )
    assert len(world.admin.data(LIST, {"ws": world.alpha})["workspaceDeployments"]) == 2
    world.admin.data(DELETE, {"id": first["id"]})
    still = world.admin.error(H.WORKSPACE_DELETE, {"workspaceId": world.alpha})
    assert "still has 1 Deployment:" in still["message"]

    deleted = world.admin.data(H.WORKSPACE_DELETE, {"workspaceId": world.bravo})["deleteWorkspace"]
    assert deleted == {"id": world.bravo, "label": "Bravo", "description": "b"}
    assert world.bravo not in [w["id"] for w in world.admin.data(H.WORKSPACES)["workspaces"]]


# --- Deployment users ----------------------------------------------------------------------------------------------


def test_deployment_users_add_list_update_remove(world: World) -> None:
    world.member("vera@example.com", world.alpha, "WORKSPACE_VIEWER")
    world.account("stranger@example.com")
    dep = world.deployment(world.alpha, "pool-a")
    add = {"email": "vera@example.com", "role": "DEPLOYMENT_EDITOR", "deploymentId": dep["id"]}
    added = world.admin.data(H.DEPLOYMENT_USER_ADD, add)["deploymentAddUserRole"]
    assert UUID.match(added["id"])
    assert added["user"] == {"username": "vera@example.com"}
    assert added["role"] == "DEPLOYMENT_EDITOR"
    assert added["deployment"] == {"id": dep["id"], "releaseName": dep["releaseName"]}

    search = {"userId": "", "email": "", "fullName": ""}
    listed = world.admin.data(H.DEPLOYMENT_USERS, {"user": search, "deploymentId": dep["id"]})["deploymentUsers"]
    assert [u["username"] for u in listed] == ["vera@example.com"]
    assert {"role": "DEPLOYMENT_EDITOR", "deployment": {"id": dep["id"]}} in listed[0]["roleBindings"]
    by_mail = world.admin.data(H.DEPLOYMENT_USERS, {"user": {**search, "email": "nobody"}, "deploymentId": dep["id"]})
    assert by_mail == {"deploymentUsers": []}

    updated = world.admin.data(H.DEPLOYMENT_USER_UPDATE, {**add, "role": "DEPLOYMENT_ADMIN"})
    assert updated["deploymentUpdateUserRole"]["role"] == "DEPLOYMENT_ADMIN"
    removed = world.admin.data(H.DEPLOYMENT_USER_DELETE, {"email": "vera@example.com", "deploymentId": dep["id"]})
    assert removed["deploymentRemoveUserRole"] == {"id": added["id"], "role": "DEPLOYMENT_ADMIN"}
    assert world.admin.data(H.DEPLOYMENT_USERS, {"user": search, "deploymentId": dep["id"]}) == {"deploymentUsers": []}

    before = world.bindings()
    outsider = world.admin.error(H.DEPLOYMENT_USER_ADD, {**add, "email": "stranger@example.com"})
    assert outsider["extensions"]["code"] == "CONFLICT"
    assert "not a member of this Deployment's workspace" in outsider["message"]
    wrong = world.admin.error(H.DEPLOYMENT_USER_ADD, {**add, "role": "WORKSPACE_ADMIN"})
    assert wrong["message"].startswith("role 'WORKSPACE_ADMIN' is not a deployment role; allowed: DEPLOYMENT_ADMIN")
    unknown = world.admin.error(H.DEPLOYMENT_USER_ADD, {**add, "deploymentId": "not-a-deployment"})
    assert unknown["message"] == "deployment 'not-a-deployment' not found"
    assert world.bindings() == before


def test_removing_a_workspace_member_removes_their_deployment_roles(world: World) -> None:
    world.member("vera@example.com", world.alpha, "WORKSPACE_VIEWER")
    dep = world.deployment(world.alpha, "pool-a")
    world.admin.data(
        H.DEPLOYMENT_USER_ADD, {"email": "vera@example.com", "role": "DEPLOYMENT_ADMIN", "deploymentId": dep["id"]}
    )
    vera = world.admin.data(H.WORKSPACE_USER_GET, {"workspaceUuid": world.alpha, "email": "vera@example.com"})
    world.admin.data(H.WORKSPACE_USER_REMOVE, {"workspaceId": world.alpha, "userId": vera["workspaceUser"]["id"]})
    search = {"userId": "", "email": "", "fullName": ""}
    assert world.admin.data(H.DEPLOYMENT_USERS, {"user": search, "deploymentId": dep["id"]}) == {"deploymentUsers": []}


# --- roles enforced ------------------------------------------------------------------------------------------------


def test_deployment_viewer_reads_but_cannot_delete_or_manage(world: World) -> None:
    """A workspace viewer made Deployment viewer of one Deployment: reads, cannot delete, cannot add people."""
    world.account("eve@example.com")
    vic = world.member("vic@example.com", world.alpha, "WORKSPACE_VIEWER")
    dep = world.deployment(world.alpha, "pool-a")
    world.admin.data(
        H.DEPLOYMENT_USER_ADD, {"email": "vic@example.com", "role": "DEPLOYMENT_VIEWER", "deploymentId": dep["id"]}
    )
    before = world.bindings()
    assert [d["id"] for d in vic.data(LIST, {"ws": world.alpha})["workspaceDeployments"]] == [dep["id"]]
    search = {"userId": "", "email": "", "fullName": ""}
    assert vic.data(H.DEPLOYMENT_USERS, {"user": search, "deploymentId": dep["id"]})["deploymentUsers"]
    for document, variables in [
        (DELETE, {"id": dep["id"]}),
        (H.DEPLOYMENT_USER_ADD, {"email": "vic@example.com", "role": "DEPLOYMENT_ADMIN", "deploymentId": dep["id"]}),
        (H.WORKSPACE_USER_ADD, {"workspaceId": world.alpha, "email": "eve@example.com", "role": "WORKSPACE_VIEWER"}),
        (H.WORKSPACE_UPDATE, {"workspaceId": world.alpha, "payload": {"label": "mine"}}),
        (H.WORKSPACE_DELETE, {"workspaceId": world.alpha}),
        (H.CREATE_DEPLOYMENT_SERVICE_ACCOUNT, {"label": "x", "deploymentUuid": dep["id"], "role": "DEPLOYMENT_ADMIN"}),
    ]:
        error = vic.error(document, variables)
        assert error["message"] == FORBIDDEN, (document, error)
    assert world.bindings() == before
    assert len(world.admin.data(LIST, {"ws": world.alpha})["workspaceDeployments"]) == 1
    assert {w["id"]: w["label"] for w in world.admin.data(H.WORKSPACES)["workspaces"]}[world.alpha] == "Alpha"


def test_deployment_admin_of_one_cannot_touch_another(world: World) -> None:
    ada = world.member("ada@example.com", world.alpha, "WORKSPACE_VIEWER")
    mine = world.deployment(world.alpha, "pool-a", "mine")
    other = world.deployment(world.alpha, "pool-b", "other")
    elsewhere = world.deployment(world.bravo, "pool-c", "elsewhere")
    world.admin.data(
        H.DEPLOYMENT_USER_ADD, {"email": "ada@example.com", "role": "DEPLOYMENT_ADMIN", "deploymentId": mine["id"]}
    )
    assert ada.error(DELETE, {"id": other["id"]})["message"] == FORBIDDEN
    assert ada.error(DELETE, {"id": elsewhere["id"]})["message"] == f"deployment {elsewhere['id']!r} not found"
    sa_on_other = {"label": "x", "deploymentUuid": other["id"], "role": "DEPLOYMENT_VIEWER"}
    assert ada.error(H.CREATE_DEPLOYMENT_SERVICE_ACCOUNT, sa_on_other)["message"] == FORBIDDEN
    assert len(world.admin.data("{ paginatedDeployments(take: -1) { id } }")["paginatedDeployments"]) == 3
    # on its own Deployment the admin manages people and deletes it
    world.account("bo@example.com")
    world.admin.data(
        H.WORKSPACE_USER_ADD, {"workspaceId": world.alpha, "email": "bo@example.com", "role": "WORKSPACE_VIEWER"}
    )
    ada.data(
        H.DEPLOYMENT_USER_ADD, {"email": "bo@example.com", "role": "DEPLOYMENT_VIEWER", "deploymentId": mine["id"]}
    )
    assert ada.data(DELETE, {"id": mine["id"]}) == {"deleteDeployment": {"id": mine["id"]}}


def test_system_admin_keeps_powers_in_workspaces_without_a_role(world: World) -> None:
    bob = world.member("bob@example.com", world.alpha, "WORKSPACE_VIEWER")
    own = bob.data(H.WORKSPACE_CREATE, {"label": "Bob's"})["createWorkspace"]["id"]
    world.account("carl@example.com")
    added = world.admin.data(
        H.WORKSPACE_USER_ADD, {"workspaceId": own, "email": "carl@example.com", "role": "WORKSPACE_EDITOR"}
    )
    assert "carl@example.com" in [u["username"] for u in added["workspaceAddUser"]["users"]]
    assert world.admin.data(H.WORKSPACE_DELETE, {"workspaceId": own})["deleteWorkspace"]["id"] == own


# --- service accounts ----------------------------------------------------------------------------------------------


def test_workspace_service_account_key_acts_with_its_role_only(world: World) -> None:
    dep = world.deployment(world.alpha, "pool-a")
    secret = world.deployment(world.bravo, "pool-b")
    created = world.admin.data(
        H.CREATE_WORKSPACE_SERVICE_ACCOUNT,
        {"label": "ci", "category": "automation", "workspaceUuid": world.alpha, "role": "WORKSPACE_VIEWER"},
    )["createWorkspaceServiceAccount"]
    key = created["apiKey"]
    assert key
    assert created["label"] == "ci"
    assert created["category"] == "automation"
    assert created["entityType"] == "WORKSPACE"
    assert created["workspaceUuid"] == world.alpha
    assert created["active"] is True
    assert created["lastUsedAt"] is None
    assert RFC3339_Z.match(created["createdAt"])
    with world.plat.db.read() as s:
        stored = s.get(models.ServiceAccount, created["id"])
        assert stored is not None
        assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest()
    listed = world.admin.data(H.WORKSPACE_SERVICE_ACCOUNTS, {"workspaceUuid": world.alpha})["workspaceServiceAccounts"]
    assert [(a["id"], a["apiKey"], a["entityUuid"]) for a in listed] == [(created["id"], None, world.alpha)]

    robot = world.anonymous.as_(key)
    assert [d["id"] for d in robot.data(LIST, {"ws": world.alpha})["workspaceDeployments"]] == [dep["id"]]
    assert [w["id"] for w in robot.data(H.WORKSPACES)["workspaces"]] == [world.alpha]
    assert robot.as_(f"Bearer {key}").data(LIST, {"ws": world.alpha})["workspaceDeployments"]
    assert robot.error(CREATE, {"label": "x", "ws": world.alpha, "ns": "pool-c"})["message"] == FORBIDDEN
    assert robot.error(DELETE, {"id": dep["id"]})["message"] == FORBIDDEN
    assert robot.error(DELETE, {"id": secret["id"]})["extensions"]["code"] == "NOT_FOUND"
    assert robot.error(H.WORKSPACE_CREATE, {"label": "own"})["message"] == FORBIDDEN
    assert robot.error("{ poolStatus { enabled } }")["message"] == FORBIDDEN
    relisted = world.admin.data(H.WORKSPACE_SERVICE_ACCOUNTS, {"workspaceUuid": world.alpha})
    assert RFC3339_Z.match(relisted["workspaceServiceAccounts"][0]["lastUsedAt"])

    deleted = world.admin.data(
        H.DELETE_WORKSPACE_SERVICE_ACCOUNT, {"serviceAccountUuid": created["id"], "workspaceUuid": world.alpha}
    )["deleteWorkspaceServiceAccount"]
    assert deleted["id"] == created["id"]
    assert deleted["apiKey"] is None
    gone = robot.error(LIST, {"ws": world.alpha})
    assert gone["message"] == "AUTH_TOKEN_REFRESH_FAILED"
    assert "deleted" in gone["extensions"]["reason"]


def test_deployment_service_account_is_limited_to_its_deployment(world: World) -> None:
    mine = world.deployment(world.alpha, "pool-a", "mine")
    other = world.deployment(world.alpha, "pool-b", "other")
    created = world.admin.data(
        H.CREATE_DEPLOYMENT_SERVICE_ACCOUNT,
        {"label": "deployer", "category": "", "deploymentUuid": mine["id"], "role": "DEPLOYMENT_ADMIN"},
    )["createDeploymentServiceAccount"]
    assert created["entityType"] == "DEPLOYMENT"
    assert created["deploymentUuid"] == mine["id"]
    listed = world.admin.data(H.DEPLOYMENT_SERVICE_ACCOUNTS, {"deploymentUuid": mine["id"]})
    assert [a["label"] for a in listed["deploymentServiceAccounts"]] == ["deployer"]
    robot = world.anonymous.as_(created["apiKey"])
    assert [d["id"] for d in robot.data("{ paginatedDeployments(take: -1) { id } }")["paginatedDeployments"]] == [
        mine["id"]
    ]
    assert robot.error(DELETE, {"id": other["id"]})["extensions"]["code"] == "NOT_FOUND"
    assert robot.error(LIST, {"ws": world.alpha})["extensions"]["code"] == "NOT_FOUND"
    wrong_role = world.admin.error(
        H.CREATE_DEPLOYMENT_SERVICE_ACCOUNT,
        {"label": "x", "category": "", "deploymentUuid": mine["id"], "role": "WORKSPACE_ADMIN"},
    )
    assert wrong_role["extensions"]["code"] == "BAD_USER_INPUT"
    assert robot.data(DELETE, {"id": mine["id"]}) == {"deleteDeployment": {"id": mine["id"]}}
    # its Deployment is gone: so is the key
    assert robot.error(LIST, {"ws": world.alpha})["message"] == "AUTH_TOKEN_REFRESH_FAILED"
    assert len(world.admin.data(LIST, {"ws": world.alpha})["workspaceDeployments"]) == 1


def test_deleting_a_deployment_service_account(world: World) -> None:
    dep = world.deployment(world.alpha, "pool-a")
    created = world.admin.data(
        H.CREATE_DEPLOYMENT_SERVICE_ACCOUNT,
        {"label": "ro", "category": "", "deploymentUuid": dep["id"], "role": "DEPLOYMENT_VIEWER"},
    )["createDeploymentServiceAccount"]
    robot = world.anonymous.as_(created["apiKey"])
    assert robot.error(DELETE, {"id": dep["id"]})["message"] == FORBIDDEN
    wrong_scope = world.admin.error(
        H.DELETE_WORKSPACE_SERVICE_ACCOUNT, {"serviceAccountUuid": created["id"], "workspaceUuid": world.alpha}
    )
    assert wrong_scope["extensions"]["code"] == "NOT_FOUND"
    deleted = world.admin.data(
        H.DELETE_DEPLOYMENT_SERVICE_ACCOUNT, {"serviceAccountUuid": created["id"], "deploymentUuid": dep["id"]}
    )["deleteDeploymentServiceAccount"]
    assert deleted["entityType"] == "DEPLOYMENT"
    assert deleted["entityUuid"] == dep["id"]
    assert robot.error("{ workspaces { id } }")["message"] == "AUTH_TOKEN_REFRESH_FAILED"


# --- teams ---------------------------------------------------------------------------------------------------------


def _team(world: World, name: str, *members: str) -> str:
    team_id = str(
        world.admin.data("mutation($n: String!) { createTeam(name: $n) { id } }", {"n": name})["createTeam"]["id"]
    )
    for email in members:
        world.admin.data(
            "mutation($t: Uuid!, $e: String!) { teamAddUser(teamUuid: $t, email: $e) { id } }",
            {"t": team_id, "e": email},
        )
    return team_id


def test_teams_give_their_roles_to_members(world: World) -> None:
    world.account("tina@example.com")
    tina = world.anonymous.login("tina@example.com")
    team = _team(world, "data-eng", "tina@example.com")
    dep = world.deployment(world.alpha, "pool-a")
    assert tina.data(H.WORKSPACES) == {"workspaces": []}

    added = world.admin.data(
        H.WORKSPACE_TEAM_ADD, {"workspaceUuid": world.alpha, "teamUuid": team, "role": "WORKSPACE_VIEWER"}
    )
    assert added["workspaceAddTeam"]["id"] == world.alpha
    assert [w["id"] for w in tina.data(H.WORKSPACES)["workspaces"]] == [world.alpha]
    assert tina.error(DELETE, {"id": dep["id"]})["message"] == FORBIDDEN

    teams = world.admin.data(H.WORKSPACE_TEAMS, {"workspaceUuid": world.alpha})["workspaceTeams"]
    assert [(t["id"], t["name"]) for t in teams] == [(team, "data-eng")]
    assert teams[0]["roleBindings"] == [
        {"role": "WORKSPACE_VIEWER", "workspace": {"id": world.alpha, "label": "Alpha"}, "deployment": None}
    ]
    new_role = world.admin.data(
        H.WORKSPACE_TEAM_UPDATE, {"workspaceUuid": world.alpha, "teamUuid": team, "role": "WORKSPACE_EDITOR"}
    )
    assert new_role == {"workspaceUpdateTeamRole": "WORKSPACE_EDITOR"}

    binding = world.admin.data(
        H.DEPLOYMENT_TEAM_ADD, {"teamUuid": team, "deploymentUuid": dep["id"], "role": "DEPLOYMENT_VIEWER"}
    )
    assert binding["deploymentAddTeamRole"]["role"] == "DEPLOYMENT_VIEWER"
    updated = world.admin.data(
        H.DEPLOYMENT_TEAM_UPDATE, {"teamUuid": team, "deploymentUuid": dep["id"], "role": "DEPLOYMENT_ADMIN"}
    )
    assert updated["deploymentUpdateTeamRole"] == {
        "id": binding["deploymentAddTeamRole"]["id"],
        "role": "DEPLOYMENT_ADMIN",
    }
    dep_teams = world.admin.data(H.DEPLOYMENT_TEAMS, {"deploymentUuid": dep["id"]})["deploymentTeams"]
    assert [t["name"] for t in dep_teams] == ["data-eng"]
    assert {
        "role": "DEPLOYMENT_ADMIN",
        "workspace": {"id": world.alpha, "label": "Alpha"},
        "deployment": {"id": dep["id"], "label": "d"},
    } in dep_teams[0]["roleBindings"]

    got = world.admin.data(H.TEAM_GET, {"teamUuid": team})["team"]
    assert got["name"] == "data-eng"
    assert got["id"] == team
    assert RFC3339_Z.match(got["createdAt"])
    assert {b["role"] for b in got["roleBindings"]} == {"WORKSPACE_EDITOR", "DEPLOYMENT_ADMIN"}
    assert {"id": dep["id"], "label": "d", "releaseName": dep["releaseName"]} in [
        b["deployment"] for b in got["roleBindings"]
    ]
    users = world.admin.data(H.TEAM_USERS, {"teamUuid": team})["teamUsers"]
    assert [(u["username"], u["status"]) for u in users] == [("tina@example.com", "active")]
    assert users[0]["emails"] == [{"address": "tina@example.com", "verified": True, "primary": True}]
    paged = world.admin.data(H.PAGINATED_TEAMS, {"take": 10, "cursor": "", "workspaceUuid": ""})["paginatedTeams"]
    assert paged["count"] == 1
    assert paged["teams"][0]["name"] == "data-eng"

    removed = world.admin.data(H.DEPLOYMENT_TEAM_REMOVE, {"deploymentUuid": dep["id"], "teamUuid": team})
    assert removed["deploymentRemoveTeamRole"]["id"] == binding["deploymentAddTeamRole"]["id"]
    world.admin.data(H.WORKSPACE_TEAM_REMOVE, {"workspaceUuid": world.alpha, "teamUuid": team})
    assert tina.data(H.WORKSPACES) == {"workspaces": []}


def test_team_system_role_binding_makes_members_system_admins(world: World) -> None:
    world.account("sam@example.com")
    sam = world.anonymous.login("sam@example.com")
    team = _team(world, "platform", "sam@example.com")
    assert sam.error("{ poolStatus { enabled } }")["message"] == FORBIDDEN
    made = world.admin.data(H.CREATE_TEAM_SYSTEM_ROLE_BINDING, {"teamUuid": team, "role": "SYSTEM_ADMIN"})
    assert made == {"createTeamSystemRoleBinding": {"role": "SYSTEM_ADMIN"}}
    assert sam.data("{ poolStatus { enabled } }") == {"poolStatus": {"enabled": True}}
    assert len(sam.data(H.WORKSPACES)["workspaces"]) == 3  # root's own, Alpha, Bravo
    gone = world.admin.data(H.DELETE_TEAM_SYSTEM_ROLE_BINDING, {"teamUuid": team, "role": "SYSTEM_ADMIN"})
    assert gone == {"deleteTeamSystemRoleBinding": {"role": "SYSTEM_ADMIN"}}
    assert sam.error("{ poolStatus { enabled } }")["message"] == FORBIDDEN


def test_only_system_admins_manage_teams(world: World) -> None:
    wanda = world.member("wanda@example.com", world.alpha, "WORKSPACE_ADMIN")
    team = _team(world, "ops")
    before = world.admin.data(H.PAGINATED_TEAMS, {"take": 10})["paginatedTeams"]
    assert wanda.error('mutation { createTeam(name: "mine") { id } }')["message"] == FORBIDDEN
    assert (
        wanda.error(H.CREATE_TEAM_SYSTEM_ROLE_BINDING, {"teamUuid": team, "role": "SYSTEM_ADMIN"})["message"]
        == FORBIDDEN
    )
    assert (
        wanda.error(
            'mutation($t: Uuid!) { teamAddUser(teamUuid: $t, email: "wanda@example.com") { id } }', {"t": team}
        )["message"]
        == FORBIDDEN
    )
    assert world.admin.data(H.PAGINATED_TEAMS, {"take": 10})["paginatedTeams"] == before
    # a workspace admin binds an existing team to their workspace
    wanda.data(H.WORKSPACE_TEAM_ADD, {"workspaceUuid": world.alpha, "teamUuid": team, "role": "WORKSPACE_VIEWER"})
    assert [t["name"] for t in wanda.data(H.WORKSPACE_TEAMS, {"workspaceUuid": world.alpha})["workspaceTeams"]] == [
        "ops"
    ]


def test_workspace_editor_deletes_deployments_but_does_not_manage_people(world: World) -> None:
    world.account("vic@example.com")
    eddie = world.member("eddie@example.com", world.alpha, "WORKSPACE_EDITOR")
    dep = eddie.data(CREATE, {"label": "mine", "ws": world.alpha, "ns": "pool-a"})["createDeployment"]
    before = world.bindings()
    refused = [
        (H.WORKSPACE_USER_ADD, {"workspaceId": world.alpha, "email": "vic@example.com", "role": "WORKSPACE_VIEWER"}),
        (
            H.WORKSPACE_USER_UPDATE,
            {"workspaceUuid": world.alpha, "email": "eddie@example.com", "role": "WORKSPACE_ADMIN"},
        ),
        (H.CREATE_WORKSPACE_SERVICE_ACCOUNT, {"label": "x", "workspaceUuid": world.alpha, "role": "WORKSPACE_VIEWER"}),
        (H.WORKSPACE_UPDATE, {"workspaceId": world.alpha, "payload": {"label": "renamed"}}),
    ]
    for document, variables in refused:
        assert eddie.error(document, variables)["message"] == FORBIDDEN, document
    assert world.bindings() == before
    assert world.admin.data(H.WORKSPACE_SERVICE_ACCOUNTS, {"workspaceUuid": world.alpha}) == {
        "workspaceServiceAccounts": []
    }
    # a workspace editor is Deployment editor everywhere in it, and may delete its Deployments
    assert eddie.data(DELETE, {"id": dep["id"]}) == {"deleteDeployment": {"id": dep["id"]}}
