"""The UI's session cookie and redirects over real HTTP (the app in uvicorn, real SQLite), without a browser.

The browser flows live in test_ui_flows.py; these are the edges a browser never shows: tampered and foreign
cookies, an expired token inside a valid cookie, hostile ``next`` targets, and log-out without a CSRF token.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from airpool.config.model import PlatformConfig
from airpool.services.platform import Platform
from airpool.ui import session as ui_session
from tests.support.api_server import PASSWORD, GraphQL, MovableClock, make_platform, running_app

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def plat(sqlite_url: str, clock: MovableClock) -> Iterator[Platform]:
    p = make_platform(sqlite_url, PlatformConfig(), clock=clock)
    yield p
    p.close()


@pytest.fixture
def base(plat: Platform) -> Iterator[str]:
    with running_app(plat, with_ui=True) as url:
        yield url


def csrf_of(page: httpx.Response) -> str:
    found = _CSRF.search(page.text)
    assert found, page.text[:500]
    return found.group(1)


def signed_up(base: str, username: str = "ada") -> tuple[httpx.Client, str]:
    """A client logged in as the first user, and the URL of their workspace's Deployments page."""
    client = httpx.Client(base_url=base)
    form = client.get("/signup")
    done = client.post("/signup", data={"username": username, "password": PASSWORD, "csrf_token": csrf_of(form)})
    assert done.status_code == 303
    home = client.get("/")
    assert home.status_code == 303
    return client, home.headers["location"]


def test_tampered_and_foreign_cookies_are_ignored(base: str, plat: Platform, tmp_path: Path) -> None:
    client, page = signed_up(base)
    assert client.get(page).status_code == 200
    cookie = client.cookies[ui_session.COOKIE_NAME]

    payload, stamp, signature = cookie.rsplit(".", 2)
    tampered = f"{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{stamp}.{signature}"
    for value in (tampered, cookie + "x", "garbage"):
        stranger = httpx.Client(base_url=base, cookies={ui_session.COOKIE_NAME: value})
        response = stranger.get(page)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")

    # A cookie from another installation (another signing key) opens nothing here.
    other = make_platform(f"sqlite:///{tmp_path / 'other.db'}", PlatformConfig())
    try:
        with running_app(other, with_ui=True) as other_base:
            foreign_client, _ = signed_up(other_base)
            foreign = foreign_client.cookies[ui_session.COOKIE_NAME]
        response = httpx.get(base + page, cookies={ui_session.COOKIE_NAME: foreign})
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login")
    finally:
        other.close()


def test_an_expired_token_sends_the_user_to_log_in_again(base: str, clock: MovableClock) -> None:
    client, page = signed_up(base)
    assert client.get(page).status_code == 200
    clock.advance(hours=25)  # past the services' 24 h token lifetime; the cookie itself is still well signed
    response = client.get(page)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next={page}"
    login = client.get(response.headers["location"])
    assert login.status_code == 200
    assert "Your session has expired; log in again." in login.text


@pytest.mark.parametrize(
    ("target", "landing"),
    [
        ("//evil.example/steal", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/admin/settings", "/admin/settings"),
    ],
)
def test_log_in_redirects_only_to_local_pages(base: str, target: str, landing: str) -> None:
    signed_up(base)  # ada exists
    client = httpx.Client(base_url=base)
    form = client.get("/login", params={"next": target})
    response = client.post(
        "/login", data={"username": "ada", "password": PASSWORD, "csrf_token": csrf_of(form), "next": target}
    )
    assert response.status_code == 303
    assert response.headers["location"] == landing


def test_log_out_needs_the_csrf_token(base: str) -> None:
    client, page = signed_up(base)
    refused = client.post("/logout")
    assert refused.status_code == 403
    assert client.get(page).status_code == 200, "a forged log-out must not end the session"
    token = csrf_of(client.get(page))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    assert client.get(page).status_code == 303


def test_status_feed_is_json_for_members_only(base: str) -> None:
    client, page = signed_up(base)
    feed = client.get(page + "/status")
    assert feed.status_code == 200
    assert feed.json() == {"deployments": []}
    assert feed.headers["cache-control"] == "no-store"
    assert client.get("/w/00000000-0000-0000-0000-000000000000/deployments/status").status_code == 404
    anonymous = httpx.get(base + page + "/status")
    assert anonymous.status_code == 303


def test_account_page_lists_and_ends_sessions_and_api_tokens(base: str) -> None:
    client, page = signed_up(base)
    api = GraphQL(base).login("ada")
    made = api.data('mutation { createApiToken(label: "ci robot", expiresInDays: 30) { id value } }')
    token_id, secret = made["createApiToken"]["id"], made["createApiToken"]["value"]
    robot = GraphQL(base, secret)
    assert robot.data("{ self { username } }")["self"]["username"] == "ada"

    account = client.get("/account")
    assert account.status_code == 200
    assert "ci robot" in account.text
    assert token_id in account.text
    assert secret not in account.text  # shown once by createApiToken, never again
    assert account.text.count('name="revoke_session"') == 2  # this browser and the API login
    assert "this one" in account.text

    # Revoking the token refuses the robot at once.
    revoked = client.post("/account", data={"csrf_token": csrf_of(account), "revoke_token": token_id})
    assert revoked.status_code == 303
    assert robot.error("{ self { username } }")["extensions"]["code"] == "UNAUTHENTICATED"
    assert token_id not in client.get("/account").text  # the notice names it; the list no longer does

    # Ending the API login's session refuses its token; this browser stays logged in.
    api_session = next(s["id"] for s in api.data("{ sessions { id current } }")["sessions"] if s["current"])
    account = client.get("/account")
    client.post("/account", data={"csrf_token": csrf_of(account), "revoke_session": api_session})
    assert api.error("{ self { username } }")["extensions"]["code"] == "UNAUTHENTICATED"
    assert client.get(page).status_code == 200

    # Ending this one logs the browser out, and a forged request (no CSRF token) ends nothing.
    account = client.get("/account")
    mine = re.findall(r'name="revoke_session" value="([^"]+)"', account.text)
    assert len(mine) == 1
    assert client.post("/account", data={"revoke_session": mine[0]}).status_code == 403
    assert client.get(page).status_code == 200
    ended = client.post("/account", data={"csrf_token": csrf_of(account), "revoke_session": mine[0]})
    assert ended.headers["location"] == "/login"
    assert client.get(page).status_code == 303
