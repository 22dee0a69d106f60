"""Single sign-on through a real OpenID Connect provider (Dex, built from its Go module, on loopback), in Chromium.

One Dex and one airpool server (UI on, SQLite) serve the whole module. airpool's values name four providers, all
the same Dex: ``dex`` (right client secret), ``dex-wrong-secret``, ``dex-bad-scope`` (asks Dex for a scope it does
not know) and ``offline`` (a discovery URL nobody serves): each failure must end on airpool's own error page that
says what to fix, never a traceback.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from airpool import config
from airpool.devcluster.processes import free_port
from airpool.services import auth, teams, workspaces
from airpool.services.platform import Platform
from airpool.store import models
from tests.support import cli
from tests.support import dex as dex_support
from tests.support.api_server import GraphQL, make_platform, running_app
from tests.support.browser import check_basics, screenshot

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Site:
    base: str
    plat: Platform
    dex: dex_support.Dex
    workspace_id: str


def _values(dex: dex_support.Dex) -> str:
    closed = f"http://127.0.0.1:{free_port()}/nobody"
    provider = """
          {name}:
            enabled: true
            displayName: "{display}"
            clientId: {client}
            clientSecret: "{secret}"
            discoveryUrl: {url}
{extra}"""
    providers = [
        ("dex", "Dex", dex_support.CLIENT_SECRET, dex.issuer, ""),
        ("dex-wrong-secret", "Dex (wrong secret)", "not-the-secret", dex.issuer, ""),
        (
            "dex-bad-scope",
            "Dex (bad scope)",
            dex_support.CLIENT_SECRET,
            dex.issuer,
            '            authUrlParams: {scope: "openid bogus"}\n',
        ),
        ("offline", "Offline", dex_support.CLIENT_SECRET, closed, ""),
    ]
    body = "".join(
        provider.format(name=n, display=d, client=dex_support.CLIENT_ID, secret=s, url=u, extra=e)
        for n, d, s, u, e in providers
    )
    return f"""
astronomer:
  houston:
    config:
      auth:
        openidConnect:
          idpGroupsImportEnabled: true{body}"""


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    workdir = Path(tempfile.mkdtemp(prefix="airpool-sso-"))
    with dex_support.running([f"{base}/v1/oauth/redirect/"]) as dex:
        values = workdir / "values.yaml"
        values.write_text(_values(dex))
        plat = make_platform(f"sqlite:///{workdir / 'airpool.db'}", config.load([values]))
        try:
            admin = auth.authenticate(plat, auth.signup(plat, username="admin", password="correct horse battery").token)
            space = workspaces.create(plat, admin, label="Authors' space")
            # An admin prepares the team the identity provider's group "authors" fills, as Astronomer's guide says.
            authors = teams.create(plat, admin, name="authors")
            teams.add_to_workspace(plat, admin, space.id, authors.id, role="WORKSPACE_EDITOR")
            with running_app(plat, with_ui=True, port=port) as url:
                assert url == base
                yield Site(base=base, plat=plat, dex=dex, workspace_id=space.id)
        finally:
            plat.close()


def users(plat: Platform) -> list[str]:
    with plat.db.read() as s:
        return sorted(s.scalars(sa.select(models.User.username)))


def choose_at_dex(page: Page, connector: str) -> None:
    """Dex's own page lists its ways to log in."""
    expect(page.get_by_role("heading", name="Log in to dex")).to_be_visible()
    page.get_by_role("button", name=f"Log in with {connector}").click()


def test_group_member_logs_in_through_dex_and_lands_in_the_team_workspace(site: Site, browser_page: Page) -> None:
    page = browser_page
    page.goto(site.base + "/login")
    expect(page.get_by_role("link", name="Log in with Dex", exact=True)).to_be_visible()
    check_basics(page)
    screenshot(page, "sso-login-page")
    page.get_by_role("link", name="Log in with Dex", exact=True).click()
    choose_at_dex(page, "Example")  # Dex's mockCallback connector: Kilgore Trout, group "authors"
    expect(page).to_have_url(f"{site.base}/w/{site.workspace_id}/deployments")
    expect(page.get_by_role("status")).to_contain_text(
        f"Welcome, {dex_support.MOCK_EMAIL} (through Dex). Your teams: authors."
    )
    expect(page.locator(".who")).to_contain_text(dex_support.MOCK_EMAIL)
    screenshot(page, "sso-landed")
    admin = auth.authenticate(
        site.plat, auth.login(site.plat, username="admin", password="correct horse battery").token
    )
    authors = next(t for t in teams.list_teams(site.plat, admin)[1] if t.name == "authors")
    assert [m.username for m in teams.members(site.plat, admin, authors.id)] == [dex_support.MOCK_EMAIL]
    # a second log-in finds the same account (by the provider's subject), it does not make another
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("link", name="Log in with Dex", exact=True).click()
    choose_at_dex(page, "Example")
    expect(page.get_by_role("status")).to_contain_text(f"Logged in, {dex_support.MOCK_EMAIL} (through Dex)")
    assert users(site.plat).count(dex_support.MOCK_EMAIL) == 1


def test_astro_cli_token_page_after_a_password_login_at_dex(site: Site, browser_page: Page) -> None:
    """``astro login`` without a username prints <houston>/token (``/v1/token`` on localhost) and asks for a token."""
    page = browser_page
    page.goto(site.base + "/v1/token")
    expect(page).to_have_url(re.compile(r"/login\?next=/v1/token$"))
    page.get_by_role("link", name="Log in with Dex", exact=True).click()
    choose_at_dex(page, "Email")
    page.get_by_label("Email Address").fill(dex_support.USER_EMAIL)
    page.get_by_label("Password").fill(dex_support.USER_PASSWORD)
    page.get_by_role("button", name="Login").click()
    expect(page).to_have_url(site.base + "/v1/token")
    expect(page.get_by_role("status")).to_contain_text(f"Welcome, {dex_support.USER_EMAIL} (through Dex).")
    page.get_by_role("button", name="Make a token").click()
    token = page.get_by_label("Token").input_value().strip()
    check_basics(page)
    screenshot(page, "sso-cli-token")
    me = GraphQL(site.base, token).data("{ self { username fullName } }")["self"]
    assert me == {"username": dex_support.USER_EMAIL, "fullName": "Ada Lovelace"}
    # Dex's static passwords carry no groups: the user is in no team and sees no workspace
    assert GraphQL(site.base, token).data("{ workspaces { id } }")["workspaces"] == []


def test_auth_config_offers_the_providers_the_way_houston_does(site: Site) -> None:
    found = GraphQL(site.base).data(
        'query { authConfig(redirect: "/admin/pool") { localEnabled providers { name displayName url } } }'
    )["authConfig"]
    assert found["localEnabled"] is True
    assert [p["name"] for p in found["providers"]] == ["dex", "dex-wrong-secret", "dex-bad-scope", "offline"]
    assert found["providers"][0] == {
        "name": "dex",
        "displayName": "Dex",
        "url": f"{site.base}/oauth/start/dex?next=%2Fadmin%2Fpool",
    }
    started = httpx.get(found["providers"][0]["url"], follow_redirects=False)
    assert started.status_code == 303
    assert started.headers["location"].startswith(f"{site.dex.issuer}/auth?")


def _failed(page: Page, *phrases: str) -> None:
    expect(page.get_by_role("heading", name="Single sign-on failed")).to_be_visible()
    for phrase in phrases:
        expect(page.locator("main")).to_contain_text(phrase)
    assert "Traceback" not in page.content()
    expect(page.get_by_role("link", name="Back to the log-in page")).to_be_visible()


def test_a_wrong_client_secret_ends_on_a_clear_error_page(site: Site, browser_page: Page) -> None:
    page = browser_page
    before = users(site.plat)
    page.goto(site.base + "/login")
    with page.expect_response(re.compile(r"/v1/oauth/redirect/")) as answer:
        page.get_by_role("link", name="Log in with Dex (wrong secret)").click()
        choose_at_dex(page, "Example")
    assert answer.value.status == 502
    _failed(page, "refused airpool's client credentials (invalid_client", "dex-wrong-secret.clientId")
    check_basics(page)
    screenshot(page, "sso-wrong-secret")
    assert users(site.plat) == before


def test_provider_errors_and_forged_answers_end_on_clear_error_pages(site: Site, browser_page: Page) -> None:
    page = browser_page
    before = users(site.plat)
    page.goto(site.base + "/login")
    page.get_by_role("link", name="Log in with Dex (bad scope)").click()
    choose_at_dex(page, "Example")
    _failed(
        page, "the identity provider refused the requested scopes", '(invalid_scope: Unrecognized scope(s) ["bogus"])'
    )
    page.goto(site.base + "/login")
    page.get_by_role("link", name="Log in with Offline").click()
    _failed(page, "cannot reach the identity provider's discovery document")
    # an answer nobody asked for, or one that belongs to another log-in
    page.goto(site.base + "/v1/oauth/redirect/?code=stolen&state=forged")
    _failed(page, "this browser has no single sign-on in progress")
    page.goto(site.base + "/oauth/start/dex")
    expect(page.get_by_role("heading", name="Log in to dex")).to_be_visible()
    page.goto(site.base + "/v1/oauth/redirect/?code=stolen&state=forged")
    _failed(page, "does not belong to the log-in this browser started (state mismatch)")
    page.goto(site.base + "/oauth/start/nobody")
    _failed(page, "there is no enabled OpenID Connect provider named 'nobody'; enabled: dex, dex-wrong-secret")
    assert users(site.plat) == before


def test_an_unregistered_redirect_uri_is_refused_by_the_provider(site: Site, browser_page: Page) -> None:
    """The same airpool reached at another address sends a redirect URI Dex does not know: Dex refuses on its own
    page (OAuth forbids sending the browser to an unregistered address), and nothing changes in airpool."""
    before = users(site.plat)
    with running_app(site.plat, with_ui=True) as other:
        page = browser_page
        page.goto(other + "/login")
        page.get_by_role("link", name="Log in with Dex", exact=True).click()
        choose_at_dex(page, "Example")
        expect(page.get_by_text("Unregistered redirect_uri")).to_be_visible()
        assert page.url.startswith(site.dex.issuer)
    assert users(site.plat) == before


def test_airpool_cli_logs_in_with_a_token_from_the_token_page(site: Site, tmp_path: Path) -> None:
    """``airpool login URL --sso`` takes the token the /token page makes (here made the way that page makes it)."""
    config = tmp_path / "cli.yaml"
    admin = auth.login(site.plat, username="admin", password="correct horse battery").user
    token = auth.start_session(site.plat, admin).token
    done = cli.run(config, "login", site.base, "--sso", AIRPOOL_TOKEN=token)
    assert done.code == 0, done
    assert f"Logged in to {site.base} as admin" in done.out
    listed = cli.run(config, "workspace", "list", "-o", "json")
    assert listed.code == 0, listed
    assert "Authors' space" in listed.out
    bad = cli.run(config, "login", site.base, "--sso", AIRPOOL_TOKEN="not-a-token")
    assert bad.code != 0
    assert "malformed or invalid token" in bad.err
    assert "Traceback" not in bad.err
