"""People and access in the web UI, in a real browser against ``airpool serve`` (SQLite, no commander): workspace
members, a Deployment's access page, service accounts with their one-time key, and teams for system admins."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from airpool import config
from airpool.services import auth
from airpool.services.platform import Platform
from tests.support import browser
from tests.support.api_server import PASSWORD, make_platform, serve_process
from tests.support.browser import check_basics, screenshot

pytestmark = pytest.mark.slow

VALUES = """
global:
  features:
    namespacePools:
      enabled: true
      namespaces:
        create: true
        names: [pool-a, pool-b]
"""


@pytest.fixture
def server(tmp_path: Path, sqlite_url: str) -> Iterator[tuple[str, Platform]]:
    values = tmp_path / "values.yaml"
    values.write_text(VALUES)
    plat = make_platform(sqlite_url, config.load([values]))
    try:
        with serve_process(values=values, database_url=sqlite_url) as served:
            yield served.base, plat
    finally:
        plat.close()


def capture(page: Page, name: str) -> None:
    check_basics(page)
    screenshot(page, name)


def log_in(page: Page, base: str, username: str) -> None:
    browser.log_in(page, base, username, PASSWORD)


def nav(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()


def api_deployments(base: str, key: str) -> list[str]:
    body = httpx.post(
        f"{base}/v1", json={"query": "{ paginatedDeployments(take: -1) { label } }"}, headers={"authorization": key}
    ).json()
    if "errors" in body:
        return [body["errors"][0]["message"]]
    return [d["label"] for d in body["data"]["paginatedDeployments"]]


def test_members_access_service_accounts_and_teams(server: tuple[str, Platform], browser_page: Page) -> None:
    base, plat = server
    page = browser_page
    page.goto(base)
    page.get_by_label("Username or email").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/w/[^/]+/deployments$"))
    ada = auth.authenticate(plat, auth.login(plat, username="ada", password=PASSWORD).token)
    for name in ("vera@example.com", "tom@example.com"):
        auth.create_user(plat, ada, username=name, password=PASSWORD)

    # workspace members: add, change role
    nav(page, "Members")
    expect(page.get_by_role("heading", level=1)).to_have_text("Members")
    page.get_by_label("Email (username) of an existing account").fill("vera@example.com")
    page.get_by_role("button", name="Add member").click()
    expect(page.locator(".notice")).to_contain_text("Added vera@example.com as WORKSPACE_VIEWER")
    row = page.locator('tr[data-member="vera@example.com"]')
    expect(row.locator('[data-field="role"]')).to_have_text("WORKSPACE_VIEWER")
    row.get_by_label("Role of vera@example.com").select_option("WORKSPACE_EDITOR")
    row.get_by_role("button", name="Change role").click()
    expect(page.locator('tr[data-member="vera@example.com"] [data-field="role"]')).to_have_text("WORKSPACE_EDITOR")
    page.get_by_label("Email (username) of an existing account").fill("ghost@example.com")
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_role("alert")).to_contain_text("'ghost@example.com' not found")
    capture(page, "members")

    # a Deployment's access: a Deployment role and a Deployment service account with its one-time key
    nav(page, "Deployments")
    page.get_by_role("link", name="New Deployment").click()
    page.get_by_label("Name", exact=True).fill("etl")
    page.get_by_label("Kubernetes Namespace").select_option("pool-a")
    page.get_by_role("button", name="Create Deployment").click()
    expect(page).to_have_url(re.compile(r"/deployments/[0-9a-f-]{36}$"))
    page.get_by_role("link", name="Access").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Access to etl")
    page.get_by_label("Email of a workspace member").fill("vera@example.com")
    page.get_by_label("Role", exact=True).select_option("DEPLOYMENT_ADMIN")
    page.get_by_role("button", name="Give role").click()
    expect(page.locator('#deployment-users tr[data-member="vera@example.com"] [data-field="role"]')).to_have_text(
        "DEPLOYMENT_ADMIN"
    )
    page.get_by_label("Service account label").fill("deployer")
    page.get_by_role("button", name="Create service account").click()
    key = page.locator("#api-key").inner_text().strip()
    assert key.startswith("apsa_")
    expect(page.locator("#new-key")).to_contain_text("shown this once")
    capture(page, "deployment-access-key")
    assert api_deployments(base, key) == ["etl"]
    page.goto(page.url)  # coming back to the page: the key is shown nowhere any more
    expect(page.locator('#service-accounts tr[data-account="deployer"]')).to_be_visible()
    assert key not in page.content()
    page.locator('#service-accounts tr[data-account="deployer"]').get_by_role("button", name="Delete").click()
    expect(page.locator(".notice")).to_contain_text("its key no longer works")
    assert api_deployments(base, key) == ["AUTH_TOKEN_REFRESH_FAILED"]

    # workspace service accounts
    nav(page, "Service accounts")
    page.get_by_label("Service account label").fill("ci")
    page.get_by_role("button", name="Create service account").click()
    ci_key = page.locator("#api-key").inner_text().strip()
    assert api_deployments(base, ci_key) == ["etl"]
    capture(page, "workspace-service-accounts")

    # teams (system admins)
    nav(page, "Teams")
    page.get_by_label("Name").fill("data-eng")
    page.get_by_role("button", name="Create team").click()
    team = page.locator('section[data-team="data-eng"]')
    team.get_by_label("Add user (email)").fill("tom@example.com")
    team.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator('section[data-team="data-eng"]')).to_contain_text("tom@example.com")
    page.locator('section[data-team="data-eng"]').get_by_label("System role").select_option("SYSTEM_VIEWER")
    page.locator('section[data-team="data-eng"]').get_by_role("button", name="Set").click()
    expect(page.locator('section[data-team="data-eng"]')).to_contain_text("SYSTEM_VIEWER")
    capture(page, "teams")

    # vera: workspace editor with Deployment admin on etl; she sees no member forms, but may delete etl
    page.context.clear_cookies()
    log_in(page, base, "vera@example.com")
    nav(page, "Members")
    expect(page.locator('tr[data-member="ada"]')).to_be_visible()
    expect(page.get_by_role("button", name="Add member")).to_have_count(0)
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Teams")).to_have_count(0)
    nav(page, "Deployments")
    page.get_by_role("link", name="etl").click()
    expect(page.get_by_role("link", name="Delete…")).to_be_visible()
    # tom sees the workspace through his team's system viewer role, read-only
    page.context.clear_cookies()
    log_in(page, base, "tom@example.com")
    page.get_by_role("link", name="etl").click()
    expect(page.get_by_role("link", name="Delete…")).to_have_count(0)
