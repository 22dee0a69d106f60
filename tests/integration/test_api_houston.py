"""Every operation of the Houston subset, sent the way the astro CLI sends it, against a real server over HTTP,
on SQLite and PostgreSQL. The assertions check the shapes the CLI's Go structs decode: string ids, RFC 3339 times
with a zone, ``featureFlags`` an object, the exact empty-pool message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from airpool.services.platform import Platform
from tests.support import platform as tp
from tests.support.api_server import GraphQL, make_platform, running_app
from tests.support.houston_deployments import (
    CREATE_DEPLOYMENT,
    DELETE_DEPLOYMENT,
    PAGINATED_DEPLOYMENTS,
    WORKSPACE_DEPLOYMENTS,
)

POOL = ("pool-a", "pool-b", "pool-c")
RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# The operations as the CLI (Houston 0.32+ variants) sends them: same operation, argument and field names (the
# Deployment documents byte for byte, from tests.support.houston_deployments).
VERSION_QUERY = "query AppConfig { appConfig { version } }"
APP_CONFIG = """
query AppConfig {
  appConfig {
    version baseDomain byoUpdateRegistryHost smtpConfigured manualReleaseNames configureDagDeployment
    nfsMountDagDeployment manualNamespaceNames hardDeleteDeployment triggererEnabled featureFlags
  }
}"""
AUTH_CONFIG = """
query GetAuthConfig($redirect: String) {
  authConfig(redirect: $redirect) { localEnabled publicSignup initialSignup providers { name displayName url } }
}"""
CREATE_TOKEN = """
mutation createBasicToken($identity: String, $password: String!) {
  createToken(identity: $identity, password: $password) {
    user { id fullName username status createdAt updatedAt }
    token { value }
  }
}"""
WORKSPACES = """
query GetWorkspaces {
  workspaces {
    id label description createdAt updatedAt
    roleBindings { role user { id username } serviceAccount { id label } }
  }
}"""
WORKSPACE = """
query GetWorkspace($workspaceUuid: Uuid!) {
  workspace(workspaceUuid: $workspaceUuid) {
    id label description createdAt updatedAt
    roleBindings { role user { id username } serviceAccount { id label } }
  }
}"""
PAGINATED_WORKSPACES = """
query paginatedWorkspaces($pageSize: Int, $pageNumber: Int) {
  paginatedWorkspaces(take: $pageSize, pageNumber: $pageNumber) { id label description createdAt updatedAt }
}"""
AVAILABLE_NAMESPACES = "query availableNamespaces { availableNamespaces { name } }"


@pytest.fixture
def plat(database_url: str) -> Iterator[Platform]:
    p = make_platform(database_url, tp.config(pool_names=POOL, hard_delete=True))
    yield p
    p.close()


@pytest.fixture
def anonymous(plat: Platform) -> Iterator[GraphQL]:
    with running_app(plat) as base:
        yield GraphQL(base)


@pytest.fixture
def admin(anonymous: GraphQL) -> GraphQL:
    return anonymous.signup("admin")


def _workspace_id(client: GraphQL) -> str:
    workspace_id: str = client.data(WORKSPACES)["workspaces"][0]["id"]
    return workspace_id


def _create(client: GraphQL, namespace: str | None, **extra: Any) -> dict[str, Any]:
    variables = {
        "label": "Sales analytics",
        "workspaceId": _workspace_id(client),
        "executor": "CeleryExecutor",
        "cloudRole": "",
        "dagDeployment": {},
        "triggererReplicas": 1,
        **({"namespace": namespace} if namespace else {}),
        **extra,
    }
    created: dict[str, Any] = client.data(CREATE_DEPLOYMENT, variables)["createDeployment"]
    return created


def _assert_times(obj: dict[str, Any]) -> None:
    for key in ("createdAt", "updatedAt"):
        assert RFC3339_Z.match(obj[key]), (key, obj[key])
        assert datetime.fromisoformat(obj[key]).tzinfo is not None


def test_app_config_reports_houston_version_and_flags_twice(anonymous: GraphQL) -> None:
    assert anonymous.data(VERSION_QUERY) == {"appConfig": {"version": "0.37.0"}}
    config = anonymous.data(APP_CONFIG)["appConfig"]
    assert config["version"] == "0.37.0"
    flags = config["featureFlags"]
    assert isinstance(flags, dict)
    assert flags["manualNamespaceNames"] is True
    assert config["manualNamespaceNames"] is True
    assert flags["namespaceFreeFormEntry"] is False
    assert flags["hardDeleteDeployment"] is True
    assert config["hardDeleteDeployment"] is True
    assert flags["triggererEnabled"] is config["triggererEnabled"]
    assert flags["nfsMountDagDeployment"] is config["nfsMountDagDeployment"]
    assert flags["astroRuntimeEnabled"] is False
    for key in ("smtpConfigured", "manualReleaseNames", "configureDagDeployment"):
        assert isinstance(config[key], bool)
    assert isinstance(config["baseDomain"], str)
    assert isinstance(config["byoUpdateRegistryHost"], str)


def test_app_config_answers_the_same_from_a_worker_thread_and_then_from_the_event_loop(anonymous: GraphQL) -> None:
    """A text's first request runs in a worker thread; later ones of a text that asks only ``appConfig`` run on the
    event loop (``graphql_http``). Both answer alike, errors included."""
    texts = {
        VERSION_QUERY: {"data": {"appConfig": {"version": "0.37.0"}}},
        "{ appConfig { version } __typename }": {"data": {"appConfig": {"version": "0.37.0"}, "__typename": "Query"}},
    }
    for text, expected in texts.items():
        assert [anonymous.post(text) for _ in range(3)] == [expected] * 3
    # A refused variable is answered by the same code on either side of the hop.
    answers = [anonymous.post(VERSION_QUERY, {"note": "a\x00b"}) for _ in range(3)]
    assert answers[0] == answers[1] == answers[2]
    assert answers[0]["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", answers[0]
    assert "U+0000" in answers[0]["errors"][0]["message"]


def test_app_config_answers_even_with_an_expired_token(anonymous: GraphQL) -> None:
    """The CLI negotiates the version with whatever token it has stored."""
    assert anonymous.as_("stale.token.value").data(VERSION_QUERY)["appConfig"]["version"] == "0.37.0"


def test_auth_config_offers_initial_signup_until_the_first_user(anonymous: GraphQL) -> None:
    before = anonymous.data(AUTH_CONFIG, {"redirect": None})["authConfig"]
    assert before == {"localEnabled": True, "publicSignup": False, "initialSignup": True, "providers": []}
    anonymous.signup("first")
    assert anonymous.data(AUTH_CONFIG)["authConfig"]["initialSignup"] is False


def test_create_token_returns_user_and_token(admin: GraphQL) -> None:
    result = admin.as_(None).data(CREATE_TOKEN, {"identity": "admin", "password": "correct horse battery"})
    user = result["createToken"]["user"]
    assert UUID.match(user["id"])
    assert user["username"] == "admin"
    assert user["status"] == "active"
    assert isinstance(user["fullName"], str)
    _assert_times(user)
    token = result["createToken"]["token"]["value"]
    assert isinstance(token, str)
    assert token
    assert admin.as_(token).data("{ self { username isSystemAdmin } }")["self"] == {
        "username": "admin",
        "isSystemAdmin": True,
    }


def test_create_token_with_a_wrong_password_says_so(admin: GraphQL) -> None:
    error = admin.as_(None).error(CREATE_TOKEN, {"identity": "admin", "password": "wrong password"})
    assert error["message"] == "invalid username or password"
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


def test_workspaces_lists_role_bindings(admin: GraphQL) -> None:
    workspaces = admin.data(WORKSPACES)["workspaces"]
    assert len(workspaces) == 1
    ws = workspaces[0]
    assert UUID.match(ws["id"])
    assert isinstance(ws["label"], str)
    assert isinstance(ws["description"], str)
    _assert_times(ws)
    [binding] = ws["roleBindings"]
    assert binding["role"] == "WORKSPACE_ADMIN"
    assert binding["user"]["username"] == "admin"
    assert UUID.match(binding["user"]["id"])
    assert binding["serviceAccount"] is None


def test_workspace_by_id_and_null_when_unknown(admin: GraphQL) -> None:
    ws_id = _workspace_id(admin)
    ws = admin.data(WORKSPACE, {"workspaceUuid": ws_id})["workspace"]
    assert ws["id"] == ws_id
    _assert_times(ws)
    unknown = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
    assert admin.data(WORKSPACE, {"workspaceUuid": unknown}) == {"workspace": None}


def test_paginated_workspaces_pages(admin: GraphQL) -> None:
    for label in ("Second", "Third"):
        admin.data("mutation($l: String!) { createWorkspace(label: $l) { id } }", {"l": label})
    first = admin.data(PAGINATED_WORKSPACES, {"pageSize": 2, "pageNumber": 1})["paginatedWorkspaces"]
    second = admin.data(PAGINATED_WORKSPACES, {"pageSize": 2, "pageNumber": 2})["paginatedWorkspaces"]
    assert len(first) == 2
    assert len(second) == 1
    assert {w["id"] for w in first}.isdisjoint({w["id"] for w in second})
    everything = admin.data(PAGINATED_WORKSPACES, {"pageSize": -1})["paginatedWorkspaces"]
    assert sorted(w["label"] for w in everything) == ["Second", "Third", "admin's Workspace"]
    for ws in everything:
        _assert_times(ws)


def test_available_namespaces_shrink_as_deployments_claim_them(admin: GraphQL) -> None:
    assert admin.data(AVAILABLE_NAMESPACES) == {"availableNamespaces": [{"name": n} for n in POOL]}
    _create(admin, "pool-b")
    assert admin.data(AVAILABLE_NAMESPACES) == {"availableNamespaces": [{"name": "pool-a"}, {"name": "pool-c"}]}


def test_create_deployment_shape(admin: GraphQL) -> None:
    created = _create(admin, "pool-a")
    assert UUID.match(created["id"])
    assert created["type"] == "airflow"
    assert created["label"] == "Sales analytics"
    assert re.match(r"^[a-z0-9-]+$", created["releaseName"])
    for key in ("version", "airflowVersion", "runtimeVersion"):
        assert isinstance(created[key], str)
    assert {u["type"] for u in created["urls"]} == {"airflow", "flower"}
    assert all(u["url"].startswith("http") for u in created["urls"])
    _assert_times(created)
    extra = admin.data(
        "query($w: Uuid!) { workspaceDeployments(workspaceUuid: $w) { namespace status statusMessage executor } }",
        {"w": _workspace_id(admin)},
    )["workspaceDeployments"]
    assert extra == [
        {
            "namespace": "pool-a",
            "status": "deploying",
            "statusMessage": "queued for install",
            "executor": "CeleryExecutor",
        }
    ]


def test_create_deployment_only_on_an_offered_airflow_version(admin: GraphQL) -> None:
    """airpool.airflow.versions (by default 2.11.2 and 3.3.2) is what a Deployment may be created on: anything
    else is refused naming the field and the allowed versions, and nothing is claimed."""
    base = {
        "label": "Old",
        "workspaceId": _workspace_id(admin),
        "executor": "CeleryExecutor",
        "cloudRole": "",
        "dagDeployment": {},
        "namespace": "pool-a",
    }
    for wanted in ("3.1.3", "2.10.5", "latest", "1.10.15"):
        error = admin.error(CREATE_DEPLOYMENT, {**base, "airflowVersion": wanted})
        assert error["message"] == (
            f"airflowVersion {wanted!r} is not offered on this installation; allowed: 2.11.2, 3.3.2 "
            "(values.yaml airpool.airflow.versions)"
        )
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert admin.data(AVAILABLE_NAMESPACES)["availableNamespaces"] == [{"name": n} for n in POOL]
    assert admin.data(WORKSPACE_DEPLOYMENTS, {"workspaceId": base["workspaceId"]})["workspaceDeployments"] == []
    older = admin.data(CREATE_DEPLOYMENT, {**base, "airflowVersion": "2.11.2"})["createDeployment"]
    assert older["airflowVersion"] == "2.11.2"
    assert _create(admin, "pool-b", airflowVersion="")["airflowVersion"] == "3.3.2"  # empty: the default


def test_create_deployment_on_an_empty_pool_gives_the_cli_message(admin: GraphQL) -> None:
    for name in POOL:
        _create(admin, name)
    assert admin.data(AVAILABLE_NAMESPACES) == {"availableNamespaces": []}
    error = admin.error(
        CREATE_DEPLOYMENT, {"label": "late", "workspaceId": _workspace_id(admin), "executor": "LocalExecutor"}
    )
    assert error["message"].startswith("no kubernetes namespaces are available")
    assert "3 claimed" in error["message"]
    assert error["extensions"]["code"] == "NO_NAMESPACE_AVAILABLE"
    assert error["extensions"]["pool"]["claimed"] == 3
    assert error["extensions"]["pool"]["available"] == 0
    assert error["extensions"]["pool"]["nextReleaseAt"] is None


def test_workspace_deployments_by_workspace_and_release_name(admin: GraphQL) -> None:
    one = _create(admin, "pool-a")
    two = _create(admin, "pool-b", label="Marketing")
    ws_id = _workspace_id(admin)
    listed = admin.data(WORKSPACE_DEPLOYMENTS, {"workspaceId": ws_id})["workspaceDeployments"]
    assert [d["id"] for d in listed] == [one["id"], two["id"]]
    for dep in listed:
        assert dep["workspace"] == {"id": ws_id}
        # The CLI prints ``current`` in its TAG column ("?" when empty): the running image's tag, the platform's
        # image of the Airflow version until an image deploy.
        assert dep["deployInfo"] == {"nextCli": "deploy-1", "current": dep["airflowVersion"]}
        assert dep["airflowVersion"] == "3.3.2"
        assert dep["type"] == "airflow"
        _assert_times(dep)
    only = admin.data(WORKSPACE_DEPLOYMENTS, {"workspaceId": ws_id, "releaseName": two["releaseName"]})
    assert [d["label"] for d in only["workspaceDeployments"]] == ["Marketing"]


def test_paginated_deployments_take_minus_one_is_everything(admin: GraphQL) -> None:
    ids = [_create(admin, name)["id"] for name in POOL]
    everything = admin.data(PAGINATED_DEPLOYMENTS, {"take": -1})["paginatedDeployments"]
    assert [d["id"] for d in everything] == ids
    for dep in everything:
        _assert_times(dep)
        assert dep["deployInfo"] == {"nextCli": "deploy-1", "current": dep["airflowVersion"]}
        assert UUID.match(dep["workspace"]["id"])
    page = admin.data(PAGINATED_DEPLOYMENTS, {"take": 2, "pageNumber": 2})["paginatedDeployments"]
    assert [d["id"] for d in page] == ids[2:]
    after = admin.data(PAGINATED_DEPLOYMENTS, {"take": 5, "cursor": ids[0]})["paginatedDeployments"]
    assert [d["id"] for d in after] == ids[1:]


def test_delete_deployment_shape_and_namespace_leaves_the_list(admin: GraphQL) -> None:
    created = _create(admin, "pool-a")
    deleted = admin.data(DELETE_DEPLOYMENT, {"deploymentId": created["id"], "deploymentHardDelete": True})[
        "deleteDeployment"
    ]
    assert deleted["id"] == created["id"]
    assert deleted["releaseName"] == created["releaseName"]
    assert deleted["type"] == "airflow"
    assert isinstance(deleted["description"], str)
    assert deleted["workspace"] == {"id": _workspace_id(admin)}
    _assert_times(deleted)
    assert admin.data(WORKSPACE_DEPLOYMENTS, {"workspaceId": _workspace_id(admin)}) == {"workspaceDeployments": []}
    status = admin.data(
        "{ poolStatus { namespaces { name state since holder { id label releaseName workspace { id label } } } } }"
    )
    by_name = {n["name"]: n for n in status["poolStatus"]["namespaces"]}
    assert by_name["pool-a"]["state"] == "releasing"
    assert RFC3339_Z.match(by_name["pool-a"]["since"])
    assert by_name["pool-a"]["holder"] == {
        "id": created["id"],
        "label": "Sales analytics",
        "releaseName": created["releaseName"],
        "workspace": {"id": _workspace_id(admin), "label": "admin's Workspace"},
    }
    assert by_name["pool-b"]["holder"] is None


CREATE_USER = """
mutation CreateUser($email: String!, $password: String!, $username: String, $inviteToken: String) {
  createUser(email: $email, password: $password, username: $username, inviteToken: $inviteToken) {
    user { id username status createdAt updatedAt }
    token { value }
  }
}"""


def test_create_user_signs_up_the_first_user_then_only_admins_add_accounts(anonymous: GraphQL) -> None:
    first = anonymous.as_("stale-token-from-an-old-install").data(
        CREATE_USER, {"email": "first@example.com", "password": "correct horse battery"}
    )["createUser"]
    assert first["user"]["username"] == "first@example.com"
    _assert_times(first["user"])
    admin = anonymous.as_(first["token"]["value"])
    assert admin.data("{ self { isSystemAdmin } }") == {"self": {"isSystemAdmin": True}}

    closed = anonymous.error(CREATE_USER, {"email": "second@example.com", "password": "correct horse battery"})
    assert closed["message"].startswith("sign-up is closed")
    added = admin.data(CREATE_USER, {"email": "second@example.com", "password": "correct horse battery"})
    second = anonymous.as_(added["createUser"]["token"]["value"])
    assert second.data("{ self { username isSystemAdmin } }") == {
        "self": {"username": "second@example.com", "isSystemAdmin": False}
    }
    refused = second.error(CREATE_USER, {"email": "third@example.com", "password": "correct horse battery"})
    assert refused["message"] == "You do not have the appropriate permissions for that"


def test_available_namespaces_shortcut_answers_like_the_executor(anonymous: GraphQL, admin: GraphQL) -> None:
    """``{ availableNamespaces { name } }`` skips graphql-core's per-field completion (api.fastpath); adding
    ``__typename`` forces the normal path. Both must answer the same, errors included."""
    fast = "{ availableNamespaces { name } }"
    slow = "{ availableNamespaces { name __typename } }"
    _create(admin, "pool-b")
    assert admin.data(fast)["availableNamespaces"] == [
        {"name": n["name"]} for n in admin.data(slow)["availableNamespaces"]
    ]
    assert admin.data("{ availableNamespaces { name name } }") == admin.data(fast)
    refused_fast, refused_slow = anonymous.post(fast), anonymous.post(slow)
    assert refused_fast == refused_slow
    assert refused_fast["data"] is None
    assert refused_fast["errors"][0]["message"] == "AUTH_TOKEN_REFRESH_FAILED"
    assert refused_fast["errors"][0]["path"] == ["availableNamespaces"]


POOL_PAGE = """
query PoolPage($take: Int, $skip: Int, $states: [NamespaceState!], $search: String, $sortBy: PoolSortField,
               $sortDesc: Boolean) {
  poolStatus(take: $take, skip: $skip, states: $states, search: $search, sortBy: $sortBy, sortDesc: $sortDesc) {
    total counts { state count } namespaces { name state }
  }
}"""


def test_pool_status_pages_sorts_and_filters_on_the_server(admin: GraphQL) -> None:
    _create(admin, "pool-b")

    def page(**variables: Any) -> dict[str, Any]:
        result: dict[str, Any] = admin.data(POOL_PAGE, variables)["poolStatus"]
        return result

    everything = page()
    assert everything["total"] == 3
    assert [n["name"] for n in everything["namespaces"]] == ["pool-a", "pool-b", "pool-c"]
    first = page(take=2)
    assert (first["total"], [n["name"] for n in first["namespaces"]]) == (3, ["pool-a", "pool-b"])
    second = page(take=2, skip=2)
    assert [n["name"] for n in second["namespaces"]] == ["pool-c"]
    assert [n["name"] for n in page(sortDesc=True)["namespaces"]] == ["pool-c", "pool-b", "pool-a"]
    by_state = page(sortBy="state")["namespaces"]
    assert [(n["state"], n["name"]) for n in by_state] == [
        ("available", "pool-a"),
        ("available", "pool-c"),
        ("claimed", "pool-b"),
    ]
    claimed = page(states=["claimed"])
    assert (claimed["total"], [n["name"] for n in claimed["namespaces"]]) == (1, ["pool-b"])
    assert {c["state"]: c["count"] for c in claimed["counts"]}["available"] == 2  # counts: always the whole pool
    assert [n["name"] for n in page(search="OL-C")["namespaces"]] == ["pool-c"]
    assert page(search="%")["total"] == 0  # LIKE wildcards are taken literally
    assert page(search="_")["total"] == 0

    too_many = admin.error(POOL_PAGE, {"take": 5000})
    assert too_many["message"] == "take must be between 1 and 1000 (got 5000)"
    assert too_many["extensions"]["code"] == "BAD_USER_INPUT"
    assert admin.error(POOL_PAGE, {"skip": -1})["message"] == "skip must be 0 or more (got -1)"
    assert "sortBy" in admin.error(POOL_PAGE, {"sortBy": "holder"})["message"]
