"""A newcomer's first hour with the web UI (issue 16), in a real browser (Debian's Chromium through Playwright).

``airpool serve`` runs without commander; where a flow needs commander's answer the test calls the services
function commander calls. Every page is checked on a 375 px wide phone screen: nothing may scroll sideways.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from airpool.domain.deployments import DeploymentStatus
from airpool.services import auth, commander_jobs, deployments
from tests.e2e.test_ui_flows import VALUES, Server, capture, create_deployment, finish_uninstalls, nav, serving
from tests.support.api_server import PASSWORD

pytestmark = pytest.mark.slow

#: Elements wider than the screen, or scrolling sideways inside it (a table in an overflow box counts too).
_SIDEWAYS = """
() => {
  const width = document.documentElement.clientWidth;
  const found = [];
  if (document.documentElement.scrollWidth > width) {
    found.push(`page is ${document.documentElement.scrollWidth}px wide`);
  }
  for (const el of document.querySelectorAll('body *')) {
    const style = getComputedStyle(el);
    if (style.display === 'none' || el.closest('.visually-hidden, .skip-link')) continue;
    const box = el.getBoundingClientRect();
    if (box.width > 0 && box.right > width + 1) found.push(`${el.tagName}.${el.className} ends at ${box.right}px`);
    if (el.clientWidth > 0 && box.left + el.scrollWidth > width + 1 && style.overflowX === 'visible') {
      found.push(`${el.tagName}.${el.className}: its content runs to ${box.left + el.scrollWidth}px`);
    }
    if (['auto', 'scroll'].includes(style.overflowX) && el.scrollWidth > el.clientWidth + 1) {
      found.push(`${el.tagName}.${el.className} scrolls sideways (${el.scrollWidth} > ${el.clientWidth})`);
    }
  }
  return found.slice(0, 10);
}
"""


@pytest.fixture
def server(tmp_path: Path, sqlite_url: str) -> Iterator[Server]:
    with serving(tmp_path, sqlite_url, VALUES) as running:
        yield running


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """An iPhone-sized viewport (375 x 812)."""
    context = browser.new_context(viewport={"width": 375, "height": 812}, device_scale_factor=1)
    context.set_default_timeout(60_000)
    expect.set_options(timeout=60_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def _fits(page: Page, name: str) -> None:
    expect(page.locator("h1")).to_have_count(1)
    problems = page.evaluate(_SIDEWAYS)
    assert not problems, f"{name} at 375 px: {problems}"
    capture(page, f"narrow-{name}")


def _sign_up(page: Page, server: Server) -> str:
    """Sign up as ada (system admin); returns the workspace id."""
    page.goto(server.base)
    page.get_by_label("Username or email").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/w/[^/]+/deployments$"))
    return page.url.split("/")[-2]


def _admin(server: Server) -> auth.Actor:
    return auth.authenticate(server.platform, auth.login(server.platform, username="ada", password=PASSWORD).token)


def test_every_page_fits_a_375_px_screen(server: Server, phone: Page) -> None:
    page = phone
    page.goto(server.base)
    _fits(page, "signup")
    workspace_id = _sign_up(page, server)
    _fits(page, "deployments-empty")
    page.goto(server.url(f"/w/{workspace_id}/deployments/new"))
    _fits(page, "new-deployment")

    page.goto(server.url(f"/w/{workspace_id}/deployments"))
    healthy = create_deployment(page, "Sales ETL with a long name that has to wrap", "pool-a")
    commander_jobs.report_status(
        server.platform, healthy, status=DeploymentStatus.HEALTHY, message="every workload is ready"
    )
    page.reload()
    expect(page.locator(".status")).to_have_text("healthy")
    _fits(page, "deployment")
    for part in ("settings", "variables", "logs", "dag-deploy"):
        page.goto(server.url(f"/deployments/{healthy}/{part}"))
        _fits(page, f"deployment-{part}")
    page.goto(server.url(f"/deployments/{healthy}/delete"))
    _fits(page, "delete-deployment")

    # A soft-deleted Deployment: listed as deleted, its namespace retained.
    page.goto(server.url(f"/w/{workspace_id}/deployments"))
    gone = create_deployment(page, "Old one", "pool-b")
    deployments.delete(server.platform, _admin(server), gone, hard=False)
    finish_uninstalls(server.platform)
    page.goto(server.url(f"/w/{workspace_id}/deployments"))
    expect(page.get_by_role("row", name=re.compile("Old one"))).to_contain_text("deleted")
    _fits(page, "deployments")
    page.goto(server.url("/admin/pool"))
    expect(page.get_by_role("row", name=re.compile("pool-b"))).to_contain_text("retained")
    _fits(page, "pool")
    page.get_by_role("link", name="Release now… pool-b").click()
    _fits(page, "release-namespace")
    page.goto(server.url("/admin/settings"))
    _fits(page, "settings")
    page.goto(server.url("/workspaces"))
    _fits(page, "workspaces")
    for path, name in (
        (f"/w/{workspace_id}/members", "members"),
        (f"/w/{workspace_id}/service-accounts", "service-accounts"),
        (f"/deployments/{healthy}/access", "deployment-access"),
        ("/admin/teams", "teams"),
    ):
        page.goto(server.url(path))
        _fits(page, name)
    page.goto(server.url("/deployments/00000000-0000-0000-0000-000000000000"))
    _fits(page, "error")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    _fits(page, "login")


def test_the_deployment_page_follows_its_status(server: Server, browser_page: Page) -> None:
    page = browser_page
    _sign_up(page, server)
    dep_id = create_deployment(page, "Live one", "pool-a")
    messages = page.get_by_role("region", name="Commander messages")
    expect(messages).to_contain_text("install queued")
    expect(page.get_by_role("status")).to_contain_text("Deployment Live one created in namespace pool-a.")

    # Commander installs it and reports it healthy; the open page follows without a reload.
    job = commander_jobs.lease(server.platform, worker_id="ui-test-commander", kinds=(commander_jobs.JobKind.INSTALL,))
    assert job is not None
    commander_jobs.complete(server.platform, job.job.id, worker_id="ui-test-commander")
    commander_jobs.report_status(server.platform, dep_id, status=DeploymentStatus.HEALTHY, message="all ready")
    expect(page.locator("h1 .status")).to_have_text("healthy")
    expect(messages).to_contain_text("install done")
    expect(messages).not_to_contain_text("install queued")
    expect(page.locator(".sub[data-field='message']")).to_have_text("all ready")
    expect(page.get_by_role("status")).to_have_count(0)  # the notice about what had just happened is gone

    # The Airflow link goes through the ingress (airpool.deploymentsBaseUrl); without an ingress controller the
    # page says how to reach the UI with a port-forward to its Service.
    release_name = deployments.get(server.platform, _admin(server), dep_id).release_name
    urls = page.get_by_role("region", name="URLs")
    expect(urls.get_by_role("link", name=f"https://deployments.localhost/{release_name}/airflow")).to_be_visible()
    urls.get_by_text("The link does not open?").click()
    expect(urls).to_contain_text(f"kubectl -n pool-a port-forward svc/{release_name}-api-server 8080:8080")
    expect(urls.get_by_role("link", name=f"http://localhost:8080/{release_name}/airflow/")).to_be_visible()
    capture(page, "deployment-healthy")


def test_a_deleted_deployment_stays_listed_as_deleting_until_commander_is_done(
    server: Server, browser_page: Page
) -> None:
    page = browser_page
    workspace_id = _sign_up(page, server)
    dep_id = create_deployment(page, "Doomed", "pool-a")
    release_name = deployments.get(server.platform, _admin(server), dep_id).release_name
    page.get_by_role("link", name="Delete…").click()
    page.get_by_label(re.compile("Type the release name")).fill(release_name)
    page.get_by_role("button", name="Delete Deployment").click()
    expect(page).to_have_url(re.compile(rf"/w/{workspace_id}/deployments$"))
    row = page.get_by_role("row", name=re.compile("Doomed"))
    expect(row.locator(".status")).to_have_text("deleting")
    expect(row).to_contain_text("queued for uninstall")
    capture(page, "deployments-deleting")

    # Commander removes everything; the open list says so without a reload.
    assert finish_uninstalls(server.platform) == 1
    expect(row.locator(".status")).to_have_text("deleted", timeout=120_000)
    expect(row).to_contain_text("Removed")
    page.reload()
    expect(page.get_by_role("row", name=re.compile("Doomed"))).to_have_count(0)


def test_workspaces_are_created_and_switched_in_the_ui(server: Server, browser_page: Page) -> None:
    page = browser_page
    first = _sign_up(page, server)
    expect(page.get_by_role("button", name="Switch")).to_have_count(0)  # one workspace: nothing to switch to
    nav(page, "Workspaces").click()
    expect(page.get_by_role("row", name=re.compile("ada's Workspace"))).to_contain_text("admin")

    page.get_by_role("button", name="Create workspace").click()  # the browser asks for a name first
    expect(page).to_have_url(re.compile(r"/workspaces$"))
    page.get_by_label("Name").fill("   ")
    page.get_by_role("button", name="Create workspace").click()
    expect(page.get_by_role("alert")).to_contain_text("workspace label must not be empty")

    page.get_by_label("Name").fill("Research")
    page.get_by_label("Description").fill("Experiments")
    page.get_by_role("button", name="Create workspace").click()
    expect(page).to_have_url(re.compile(r"/w/[^/]+/deployments$"))
    assert page.url.split("/")[-2] != first
    expect(page.get_by_role("status")).to_contain_text("Workspace Research created; you are its admin.")
    expect(page.get_by_text("Workspace Research · your role: admin")).to_be_visible()
    nav(page, "Workspaces").click()
    expect(page.get_by_role("row", name=re.compile("Research"))).to_contain_text("current")
    capture(page, "workspaces")

    page.get_by_label("Workspace", exact=True).select_option(label="ada's Workspace")
    page.get_by_role("button", name="Switch").click()
    expect(page).to_have_url(re.compile(rf"/w/{first}/deployments$"))
