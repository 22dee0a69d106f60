"""Issue 11, part 7: credentials and sessions (real server over HTTP, SQLite and PostgreSQL, the real CLI).

- Logging out (UI, API, CLI) ends the session on the server: a cookie or token saved before stops working.
- API tokens and sessions are listed and revoked through the API and the CLI.
- Failed log-ins are throttled per account and per client, with a clear message and a way to recover.
- No operation leaves a workspace without an admin.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from itsdangerous import URLSafeTimedSerializer

from airpool.services import auth
from airpool.services.platform import Platform
from airpool.ui import session as ui_session
from tests.support import cli
from tests.support import platform as tp
from tests.support.api_server import PASSWORD, GraphQL, running_app

LOGIN = "mutation($u: String, $p: String!) { createToken(identity: $u, password: $p) { token { value } } }"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Env:
    plat: Platform
    base: str
    clock: tp.Clock
    admin: GraphQL


@pytest.fixture
def env(database_url: str) -> Iterator[Env]:
    """The platform's clock stands still unless a test moves it: a log-in block lasts until the test says it
    ended, however long 200 requests take on a loaded machine."""
    clock = tp.Clock()
    plat = tp.make(database_url, tp.config(pool_names=("pool-a",)), clock=clock)
    try:
        with running_app(plat, with_ui=True) as base:
            yield Env(plat=plat, base=base, clock=clock, admin=GraphQL(base).signup("admin"))
    finally:
        plat.close()


def _refused_reason(gql: GraphQL) -> str:
    error = gql.error("{ self { username } }")
    assert error["message"] == "AUTH_TOKEN_REFRESH_FAILED", error
    reason: str = error["extensions"]["reason"]
    return reason


# -- logout ---------------------------------------------------------------------------------------------------


def test_ui_logout_revokes_the_session_a_saved_cookie_and_its_token_stop_working(env: Env) -> None:
    browser = httpx.Client(base_url=env.base)
    form = browser.get("/login")
    csrf = _CSRF.search(form.text).group(1)  # type: ignore[union-attr]
    assert (
        browser.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": csrf}).status_code == 303
    )
    saved = browser.cookies[ui_session.COOKIE_NAME]
    home = browser.get("/", follow_redirects=True)
    assert home.status_code == 200
    logout_csrf = _CSRF.search(home.text).group(1)  # type: ignore[union-attr]
    assert browser.post("/logout", data={"csrf_token": logout_csrf}).status_code == 303

    # The cookie saved before log-out opens nothing any more ...
    replay = httpx.get(f"{env.base}/", cookies={ui_session.COOKIE_NAME: saved})
    assert replay.status_code == 303
    assert replay.headers["location"].startswith("/login")
    # ... and the API token inside it (signed, readable by whoever holds the cookie) is refused by the API.
    inside = URLSafeTimedSerializer(auth.signing_key(env.plat), salt="airpool.ui.session").loads(saved)["t"]
    assert _refused_reason(GraphQL(env.base, inside)) == "this session was logged out or revoked: log in again"


def test_api_logout_and_revoke_session_end_tokens_everywhere(env: Env) -> None:
    laptop, phone = GraphQL(env.base).login("admin"), GraphQL(env.base).login("admin")
    sessions = laptop.data("{ sessions { id current expiresAt } }")["sessions"]
    assert len(sessions) == 3  # sign-up, laptop, phone
    assert sum(s["current"] for s in sessions) == 1
    phone_id = next(s["id"] for s in phone.data("{ sessions { id current } }")["sessions"] if s["current"])
    revoked = laptop.data("mutation($id: Uuid!) { revokeSession(id: $id) { id revokedAt } }", {"id": phone_id})
    assert revoked["revokeSession"]["revokedAt"]
    assert _refused_reason(phone) == "this session was logged out or revoked: log in again"
    assert laptop.data("mutation { logout }") == {"logout": True}
    assert _refused_reason(laptop) == "this session was logged out or revoked: log in again"
    assert env.admin.data("{ self { username } }")["self"]["username"] == "admin"
    other = GraphQL(env.base).as_(env.admin.token)
    assert len(other.data("{ sessions { id } }")["sessions"]) == 1


def test_api_tokens_are_listed_without_secrets_and_revoked(env: Env) -> None:
    made = env.admin.data('mutation { createApiToken(label: "ci", expiresInDays: 30) { id value } }')
    token_id, secret = made["createApiToken"]["id"], made["createApiToken"]["value"]
    robot = GraphQL(env.base, secret)
    assert robot.data("{ self { username } }")["self"]["username"] == "admin"
    listed = env.admin.data("{ apiTokens { id label createdAt expiresAt revokedAt } }")["apiTokens"]
    assert [(t["id"], t["label"], t["revokedAt"]) for t in listed] == [(token_id, "ci", None)]
    assert secret not in str(listed)
    env.admin.data("mutation($id: Uuid!) { revokeApiToken(id: $id) { id } }", {"id": token_id})
    assert _refused_reason(robot) == "API token was revoked"
    # Another user can neither see nor revoke it.
    env.admin.data(
        'mutation { createUser(email: "bob", password: "correct horse battery") { user { id } } }',
    )
    bob = GraphQL(env.base).login("bob")
    assert bob.data("{ apiTokens { id } }") == {"apiTokens": []}
    error = bob.error("mutation($id: Uuid!) { revokeApiToken(id: $id) { id } }", {"id": token_id})
    assert error["extensions"]["code"] == "NOT_FOUND"


def test_cli_logout_ends_the_session_and_token_commands_list_and_revoke(env: Env, tmp_path: Path) -> None:
    config = tmp_path / "cli.yaml"
    assert cli.run(config, "login", env.base, "-u", "admin", AIRPOOL_PASSWORD=PASSWORD).code == 0
    made = cli.run(config, "token", "create", "deploy-bot", "--expires-in-days", "7")
    assert made.code == 0, made.err
    secret = made.out.strip()
    assert secret.startswith("ap_")
    listed = cli.run(config, "token", "list", "-o", "json")
    assert listed.code == 0, listed.err
    assert "deploy-bot" in listed.out
    assert secret not in listed.out
    token_id = re.search(r"API token (\S+) ", made.err).group(1)  # type: ignore[union-attr]
    revoked = cli.run(config, "token", "revoke", token_id)
    assert revoked.code == 0, revoked.err
    assert f"API token {token_id} (deploy-bot) revoked at" in revoked.out
    assert _refused_reason(GraphQL(env.base, secret)) == "API token was revoked"

    saved = re.search(r"token: (\S+)", config.read_text())
    assert saved is not None
    assert cli.run(config, "logout").code == 0
    assert _refused_reason(GraphQL(env.base, saved.group(1))) == "this session was logged out or revoked: log in again"


def test_a_token_from_before_revocable_sessions_must_log_in_again(env: Env) -> None:
    from airpool.services.auth import _serializer

    old_style = _serializer(env.plat).dumps({"u": auth.authenticate(env.plat, env.admin.token).user_id})
    assert "log in again" in _refused_reason(GraphQL(env.base, old_style))


# -- throttling -----------------------------------------------------------------------------------------------


def test_two_hundred_wrong_passwords_then_the_right_one_is_still_refused(env: Env) -> None:
    anonymous = GraphQL(env.base)
    codes = [anonymous.error(LOGIN, {"u": "admin", "p": f"guess-{i}"})["extensions"]["code"] for i in range(200)]
    assert codes[:5] == ["UNAUTHENTICATED"] * 5
    assert set(codes[5:]) == {"LOGIN_THROTTLED"}
    error = anonymous.error(LOGIN, {"u": "admin", "p": PASSWORD})
    assert error["extensions"]["code"] == "LOGIN_THROTTLED"
    assert error["message"].startswith("too many failed log-ins for this account: try again in ")
    assert "`airpool user unblock admin`" in error["message"]

    # Recovery 1: wait until the block ends (the clock moves instead of the test sleeping).
    env.clock.advance(minutes=16)
    assert anonymous.login("admin").data("{ self { username } }")["self"]["username"] == "admin"
    # A success clears the account's failures: one more typo is just a typo.
    assert anonymous.error(LOGIN, {"u": "admin", "p": "typo"})["extensions"]["code"] == "UNAUTHENTICATED"


def test_a_system_admin_lifts_an_account_block(env: Env) -> None:
    env.admin.data('mutation { createUser(email: "carol", password: "correct horse battery") { user { id } } }')
    anonymous = GraphQL(env.base)
    for i in range(6):
        anonymous.error(LOGIN, {"u": "carol", "p": f"wrong-{i}"})
    assert anonymous.error(LOGIN, {"u": "carol", "p": PASSWORD})["extensions"]["code"] == "LOGIN_THROTTLED"
    assert env.admin.data('mutation { unblockLogin(username: "carol") }') == {"unblockLogin": True}
    assert anonymous.login("carol").token
    refused = GraphQL(env.base).login("carol").error('mutation { unblockLogin(username: "admin") }')
    assert refused["extensions"]["code"] == "FORBIDDEN"


def test_failures_from_one_client_over_many_accounts_are_throttled_per_client(env: Env) -> None:
    anonymous = GraphQL(env.base)
    for i in range(20):  # four guesses each at five accounts: no account reaches its own limit
        anonymous.error(LOGIN, {"u": f"user{i % 5}", "p": f"guess-{i}"})
    error = anonymous.error(LOGIN, {"u": "admin", "p": PASSWORD})
    assert error["extensions"]["code"] == "LOGIN_THROTTLED"
    assert error["message"].startswith("too many failed log-ins from your address")
    env.clock.advance(minutes=16)
    assert anonymous.login("admin").token


# -- admins ---------------------------------------------------------------------------------------------------


def test_the_last_admin_of_a_workspace_cannot_demote_or_remove_themself(env: Env) -> None:
    workspace = env.admin.data("{ workspaces { id } }")["workspaces"][0]["id"]
    me = env.admin.data("{ self { id } }")["self"]["id"]
    demote = (
        "mutation($w: Uuid!, $e: String!, $r: Role!) {"
        " workspaceUpsertUserRole(workspaceUuid: $w, email: $e, role: $r) }"
    )
    leave = "mutation($w: Uuid!, $u: Uuid!) { workspaceRemoveUser(workspaceUuid: $w, userUuid: $u) { id } }"
    for query, variables in (
        (demote, {"w": workspace, "e": "admin", "r": "WORKSPACE_VIEWER"}),
        (leave, {"w": workspace, "u": me}),
    ):
        error = env.admin.error(query, variables)
        assert error["extensions"]["code"] == "CONFLICT"
        assert "is the last admin of workspace" in error["message"]
        assert "make another member admin first" in error["message"]
    roles = env.admin.data("{ workspaces { roleBindings { role user { username } } } }")["workspaces"][0]
    assert [(b["user"]["username"], b["role"]) for b in roles["roleBindings"]] == [("admin", "WORKSPACE_ADMIN")]
    env.admin.data('mutation { createUser(email: "dan", password: "correct horse battery") { user { id } } }')
    env.admin.data(demote, {"w": workspace, "e": "dan", "r": "WORKSPACE_ADMIN"})
    assert env.admin.data(demote, {"w": workspace, "e": "admin", "r": "WORKSPACE_VIEWER"})
