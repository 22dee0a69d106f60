"""The web UI in a real browser (Debian's Chromium through Playwright) against ``airpool serve`` on SQLite.

The server runs with ``--no-commander``: nothing touches a cluster, so where a flow needs commander's answer
(an uninstall finishing, a status report) the test calls the very services function commander calls, in the
open, on the same database. Every page visited is saved under ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from airpool import config
from airpool.domain.deployments import DeploymentStatus
from airpool.services import auth, commander_jobs, deployments, pool, workspaces
from airpool.services.platform import Platform
from tests.support.api_server import PASSWORD, make_platform, serve_process
from tests.support.browser import check_basics, screenshot

pytestmark = pytest.mark.slow

VALUES = """
global:
  clusterRoles: false  # with nfsMountDagDeployment below: a configuration warning for the Settings page
  features:
    namespacePools:
      enabled: true
      namespaces:
        create: true
        names: [pool-a, pool-b]
astronomer:
  houston:
    config:
      deployments:
        hardDeleteDeployment: true
        nfsMountDagDeployment: true
airpool:
  retentionDays: 3
"""


@dataclass
class Server:
    base: str
    platform: Platform
    database_url: str

    def url(self, path: str) -> str:
        return self.base + path


@contextlib.contextmanager
def serving(tmp_path: Path, sqlite_url: str, values_text: str) -> Iterator[Server]:
    """``airpool serve`` (no commander) on a fresh SQLite file, and the same platform opened in the test."""
    values = tmp_path / "values.yaml"
    values.write_text(values_text)
    plat = make_platform(sqlite_url, config.load([values]))
    try:
        with serve_process(values=values, database_url=sqlite_url) as served:
            yield Server(base=served.base, platform=plat, database_url=sqlite_url)
    finally:
        plat.close()


@pytest.fixture
def server(tmp_path: Path, sqlite_url: str) -> Iterator[Server]:
    """A pool of pool-a and pool-b, hard delete allowed."""
    with serving(tmp_path, sqlite_url, VALUES) as running:
        yield running


def capture(page: Page, name: str) -> None:
    """Every page the tests visit is checked for the accessibility basics and saved as a screenshot."""
    check_basics(page)
    screenshot(page, name)


def nav(page: Page, name: str) -> Locator:
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True)


def namespace_options(page: Page) -> list[str]:
    """The dropdown's choices, once the New Deployment page has loaded (reading does not wait by itself)."""
    expect(page.get_by_role("heading", level=1)).to_have_text("New Deployment")
    return page.get_by_label("Kubernetes Namespace").locator("option").all_inner_texts()


def sign_up(page: Page, server: Server, username: str = "ada") -> None:
    page.goto(server.base)
    expect(page).to_have_url(re.compile(r"/signup$"))
    capture(page, "signup")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/w/[^/]+/deployments$"))


def create_deployment(page: Page, label: str, namespace: str) -> str:
    """Fill the New Deployment form from the list page; returns the new Deployment's id."""
    page.get_by_role("link", name="New Deployment").click()
    page.get_by_label("Name", exact=True).fill(label)
    page.get_by_label("Kubernetes Namespace").select_option(namespace)
    page.get_by_role("button", name="Create Deployment").click()
    expect(page).to_have_url(re.compile(r"/deployments/[0-9a-f-]{36}$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(label)
    return page.url.rsplit("/", 1)[1]


def finish_uninstalls(plat: Platform) -> int:
    """What commander does once a namespace is verified clean: lease the ``uninstall`` job and complete it."""
    done = 0
    while leased := commander_jobs.lease(
        plat, worker_id="ui-test-commander", kinds=(commander_jobs.JobKind.UNINSTALL,)
    ):
        commander_jobs.complete(plat, leased.job.id, worker_id="ui-test-commander")
        done += 1
    return done


def test_chosen_namespace_leaves_the_dropdown_and_returns_after_hard_delete(server: Server, browser_page: Page) -> None:
    page = browser_page
    sign_up(page, server)
    capture(page, "deployments-empty")

    page.get_by_role("link", name="New Deployment").click()
    assert namespace_options(page) == ["pool-a", "pool-b"]
    # Exactly the versions of airpool.airflow.versions (the built-in list here), the default chosen.
    versions = page.get_by_label("Airflow version")
    assert versions.locator("option").all_inner_texts() == ["2.11.2", "3.3.2 (default)"]
    expect(versions).to_have_value("3.3.2")
    capture(page, "new-deployment")
    # A version the installation does not offer (an option added to the page by hand): refused, naming the field
    # and the allowed versions, the form kept and nothing created.
    versions.evaluate("s => s.add(new Option('3.1.3', '3.1.3', true, true))")
    page.get_by_label("Name", exact=True).fill("Old one")
    page.get_by_label("Kubernetes Namespace").select_option("pool-a")
    page.get_by_role("button", name="Create Deployment").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "airflowVersion '3.1.3' is not offered on this installation; allowed: 2.11.2, 3.3.2 "
        "(values.yaml airpool.airflow.versions)"
    )
    expect(page.get_by_label("Name", exact=True)).to_have_value("Old one")
    workspace_id = page.url.split("/")[-3]
    assert deployments.list_for_workspace(server.platform, _admin(server), workspace_id) == []
    assert namespace_options(page) == ["pool-a", "pool-b"]
    page.get_by_role("link", name="Cancel").click()
    dep_id = create_deployment(page, "Sales ETL", "pool-b")
    expect(page.locator(".facts")).to_contain_text("pool-b")
    expect(page.get_by_role("region", name="Commander messages")).to_contain_text("install queued")
    expect(page.get_by_role("region", name="History")).to_contain_text("ada: created it")
    capture(page, "deployment")

    nav(page, "Deployments").click()
    expect(page.get_by_role("row", name=re.compile("Sales ETL"))).to_contain_text("pool-b")
    page.get_by_role("link", name="New Deployment").click()
    assert namespace_options(page) == ["pool-a"], "a claimed namespace must not be offered"

    page.goto(server.url(f"/deployments/{dep_id}"))
    page.get_by_role("link", name="Delete…").click()
    capture(page, "delete-deployment")
    expect(page.get_by_label(re.compile("^Hard delete"))).to_be_checked()
    release_name = deployments.get(server.platform, _admin(server), dep_id).release_name
    page.get_by_label(re.compile("Type the release name")).fill(release_name)
    page.get_by_role("button", name="Delete Deployment").click()
    expect(page.get_by_role("status")).to_contain_text("namespace pool-b returns to the pool as soon as commander")

    page.get_by_role("link", name="New Deployment").click()
    assert namespace_options(page) == ["pool-a"], "pool-b is offered only once commander confirmed it clean"
    nav(page, "Pool").click()
    expect(page.get_by_role("row", name=re.compile("pool-b"))).to_contain_text("releasing")

    # Commander (not running here) would now verify pool-b is free of the Deployment's objects and say so:
    assert finish_uninstalls(server.platform) == 1

    page.reload()
    expect(page.get_by_role("row", name=re.compile("pool-b"))).to_contain_text("available")
    capture(page, "pool")
    page.goto(server.url("/"))
    page.get_by_role("link", name="New Deployment").click()
    assert namespace_options(page) == ["pool-a", "pool-b"]


def test_taken_namespace_keeps_the_form_and_an_empty_pool_says_why(server: Server, browser_page: Page) -> None:
    page = browser_page
    sign_up(page, server)
    admin = _admin(server)
    workspace_id = page.url.split("/")[-2]

    # Someone else claims pool-a while this form is open with pool-a chosen.
    page.get_by_role("link", name="New Deployment").click()
    page.get_by_label("Name", exact=True).fill("Marketing")
    page.get_by_label("Executor").select_option("KubernetesExecutor")
    page.get_by_label("Kubernetes Namespace").select_option("pool-a")
    deployments.create(server.platform, admin, workspace_id=workspace_id, label="Quick one", namespace="pool-a")
    page.get_by_role("button", name="Create Deployment").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("namespace 'pool-a' is not available: it is used by another Deployment")
    expect(alert).to_contain_text("Choose another namespace below")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Marketing")
    expect(page.get_by_label("Executor")).to_have_value("KubernetesExecutor")
    assert namespace_options(page) == ["pool-b"]
    capture(page, "new-deployment-namespace-taken")

    # Keyboard only from here: focus the namespace field, choose, submit with Enter.
    page.get_by_label("Kubernetes Namespace").focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    expect(page.get_by_label("Name", exact=True)).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/deployments/[0-9a-f-]{36}$"))
    expect(page.locator(".facts")).to_contain_text("pool-b")

    # Soft-delete "Quick one": pool-a is retained for 3 days, so the pool is empty with a known return time.
    quick = deployments.list_for_workspace(server.platform, admin, workspace_id)[0]
    page.goto(server.url(f"/deployments/{quick.id}/delete"))
    page.get_by_label(re.compile("^Soft delete")).check()
    page.get_by_label(re.compile("Type the release name")).fill(quick.release_name)
    page.get_by_role("button", name="Delete Deployment").click()
    expect(page.get_by_role("status")).to_contain_text("returns to the pool on")
    finish_uninstalls(server.platform)

    page.get_by_role("link", name="New Deployment").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("No Kubernetes namespace is available")
    expect(alert).to_contain_text("1 claimed")
    expect(alert).to_contain_text("1 retained")
    expect(alert).to_contain_text("The next retained namespace returns to the pool on")
    expect(alert).to_contain_text("(in 3 days)")
    expect(page.get_by_role("button", name="Create Deployment")).to_be_disabled()
    capture(page, "new-deployment-empty-pool")

    # The admin releases the retained namespace early from the Pool page; it is offered again.
    nav(page, "Pool").click()
    expect(page.get_by_role("row", name=re.compile("pool-a"))).to_contain_text("retained")
    expect(page.get_by_role("row", name=re.compile("pool-b"))).to_contain_text("claimed")
    expect(page.get_by_role("row", name=re.compile("pool-b"))).to_contain_text("Marketing")
    expect(page.get_by_role("row", name=re.compile("pool-b"))).to_contain_text("ada's Workspace")
    capture(page, "pool-retained")
    page.get_by_role("link", name="Release now… pool-a").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Release pool-a now?")
    expect(page.locator("main")).to_contain_text("Releasing it now ends that for good")
    capture(page, "release-namespace")
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("row", name=re.compile("pool-a"))).to_contain_text("retained")
    page.get_by_role("link", name="Release now… pool-a").click()
    page.get_by_role("button", name="Release pool-a").click()
    expect(page.get_by_role("status")).to_contain_text("pool-a is released: commander removes the data")
    pool.record_health(server.platform, "pool-a", ok=True)  # commander's check after its purge: clean
    page.goto(server.url(f"/w/{workspace_id}/deployments/new"))
    assert namespace_options(page) == ["pool-a"]


def test_status_updates_live_and_settings_show_the_configuration(server: Server, browser_page: Page) -> None:
    page = browser_page
    sign_up(page, server)
    dep_id = create_deployment(page, "Live one", "pool-a")
    nav(page, "Deployments").click()
    row = page.get_by_role("row", name=re.compile("Live one"))
    expect(row).to_contain_text("deploying")

    # Commander reports the Deployment healthy; the open page shows it without a reload.
    commander_jobs.report_status(
        server.platform, dep_id, status=DeploymentStatus.HEALTHY, message="all 7 workloads ready"
    )
    expect(row.locator(".status")).to_have_text("healthy", timeout=120_000)
    expect(row).to_contain_text("all 7 workloads ready")
    capture(page, "deployments")

    # The workspace switcher: a select and a button, so choosing with the keyboard never navigates early. It
    # appears once there is something to switch to.
    expect(page.get_by_role("button", name="Switch")).to_have_count(0)
    expect(page.locator(".who")).to_have_text("Signed in as ada · system admin")
    other = workspaces.create(server.platform, _admin(server), label="Research")
    page.reload()
    page.get_by_label("Workspace").select_option(label="Research")
    page.get_by_role("button", name="Switch").click()
    expect(page).to_have_url(re.compile(rf"/w/{other.id}/deployments$"))
    expect(page.get_by_text("No Deployments in this workspace yet.")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("Live one"))).to_have_count(0)

    nav(page, "Settings").click()
    expect(page.get_by_role("heading", name="Namespace pool")).to_be_visible()
    expect(page.locator("main")).to_contain_text("pool-a, pool-b")
    expect(page.locator("main")).to_contain_text("hardDeleteDeployment")
    expect(page.get_by_role("region", name="Warnings")).to_contain_text("NFS DAG deploys")
    expect(page.locator("main")).to_contain_text(f"Database in use: {server.database_url}")
    capture(page, "settings")

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("status")).to_contain_text("You are logged out")
    capture(page, "login")
    page.goto(server.url(f"/deployments/{dep_id}"))
    expect(page).to_have_url(re.compile(r"/login\?next=/deployments/"))


def test_viewer_sees_no_create_button_and_forged_posts_are_refused(server: Server, browser_page: Page) -> None:
    plat = server.platform
    admin = auth.authenticate(plat, auth.signup(plat, username="root", password=PASSWORD).token)
    team = workspaces.list_for(plat, admin)[0]
    auth.create_user(plat, admin, username="vera", password=PASSWORD)
    workspaces.set_member(plat, admin, team.id, username="vera", role="viewer")
    shared = deployments.create(plat, admin, workspace_id=team.id, label="Team pipeline", namespace="pool-a")
    secret = workspaces.create(plat, admin, label="Secret team")
    hidden = deployments.create(plat, admin, workspace_id=secret.id, label="Hidden payroll", namespace="pool-b")

    page = browser_page
    page.goto(server.base)
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    page.get_by_label("Username or email").fill("vera")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("invalid username or password")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(rf"/w/{team.id}/deployments$"))
    expect(page.get_by_role("row", name=re.compile("Team pipeline"))).to_be_visible()
    expect(page.get_by_role("link", name="New Deployment")).to_have_count(0)
    expect(nav(page, "Pool")).to_have_count(0)
    assert "Secret team" not in page.content()
    capture(page, "deployments-viewer")

    # Another workspace's pages do not exist for vera, and say nothing about what is there.
    for path in (f"/w/{secret.id}/deployments", f"/deployments/{hidden.id}", f"/w/{secret.id}/deployments/status"):
        response = page.goto(server.url(path))
        assert response is not None
        assert response.status == 404, path
        assert "Hidden payroll" not in page.content()
        assert "Secret team" not in page.content()
        if path.endswith("/deployments"):
            capture(page, "not-found")
    response = page.goto(server.url(f"/w/{team.id}/deployments/new"))
    assert response is not None
    assert response.status == 403
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    capture(page, "forbidden")
    # Reading is allowed, changing is not; admin pages are for system admins only.
    response = page.goto(server.url(f"/deployments/{shared.id}"))
    assert response is not None
    assert response.status == 200
    expect(page.get_by_role("link", name="Delete…")).to_have_count(0)
    for path in (f"/deployments/{shared.id}/delete", "/admin/pool", "/admin/settings"):
        response = page.goto(server.url(path))
        assert response is not None
        assert response.status == 403, path

    # Forged POSTs with vera's own cookie: no token, a wrong token, and a right token sent from another site.
    page.goto(server.url(f"/w/{team.id}/deployments"))
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token
    target = server.url(f"/w/{team.id}/deployments/new")
    form = {"label": "Forged", "executor": "CeleryExecutor", "airflow_version": "3.3.2", "namespace": "pool-a"}
    for extra, headers in (
        ({}, {}),
        ({"csrf_token": "not-the-token"}, {}),
        ({"csrf_token": token}, {"origin": "http://evil.example"}),
    ):
        refused = page.request.post(target, form={**form, **extra}, headers=headers, max_redirects=0)
        assert refused.status == 403, (extra, headers)
        assert "did not carry a valid security token" in refused.text()
    # With the right token the request gets through CSRF and is refused by the services: vera is a viewer.
    allowed_through = page.request.post(target, form={**form, "csrf_token": token}, max_redirects=0)
    assert allowed_through.status == 403
    assert "You do not have the appropriate permissions for that" in allowed_through.text()
    for path in ("/admin/pool/pool-a/release", f"/deployments/{shared.id}/delete"):
        refused = page.request.post(
            server.url(path), form={"csrf_token": token, "confirm": shared.release_name}, max_redirects=0
        )
        assert refused.status == 403, path
    labels = [d.label for d in deployments.list_for_workspace(plat, admin, team.id)]
    assert labels == ["Team pipeline"], "no forged request may create anything"

    # The session cookie: HttpOnly, SameSite=Lax, and not Secure over plain http ...
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "airpool_session"]
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Lax"
    assert not cookie["secure"]
    # ... but Secure when the request came over https through a proxy uvicorn trusts (127.0.0.1).
    over_https = httpx.get(server.url("/login"), headers={"x-forwarded-proto": "https"})
    set_cookie = over_https.headers["set-cookie"].lower()
    assert "; secure" in set_cookie
    assert "; httponly" in set_cookie
    assert "; samesite=lax" in set_cookie


def _admin(server: Server) -> auth.Actor:
    """The first user of the installation (signed up through the UI), as the services know them."""
    return auth.authenticate(server.platform, auth.login(server.platform, username="ada", password=PASSWORD).token)


@pytest.mark.parametrize(
    ("values_text", "mode"),
    [
        ("astronomer: {houston: {config: {deployments: {namespaceFreeFormEntry: true}}}}", "free-form"),
        ("airpool: {releaseName: astronomer}", "no pool"),
    ],
)
def test_namespace_field_follows_the_configuration(
    tmp_path: Path, sqlite_url: str, browser_page: Page, values_text: str, mode: str
) -> None:
    page = browser_page
    with serving(tmp_path, sqlite_url, values_text) as running:
        sign_up(page, running)
        page.get_by_role("link", name="New Deployment").click()
        page.get_by_label("Name", exact=True).fill(f"In {mode} mode")
        field = page.get_by_label("Kubernetes Namespace")
        if mode == "no pool":
            expect(field).to_have_count(0)
            page.get_by_role("button", name="Create Deployment").click()
            expect(page.locator(".facts")).to_contain_text(re.compile(r"astronomer-[a-z]+-[a-z]+-\d{4}"))
            return
        expect(field).to_have_attribute("type", "text")
        field.fill("Team_X")
        page.get_by_role("button", name="Create Deployment").click()
        expect(page.get_by_role("alert")).to_contain_text("namespace 'Team_X' must consist of lower case")
        expect(page.get_by_label("Name", exact=True)).to_have_value(f"In {mode} mode")
        expect(field).to_have_value("Team_X")
        capture(page, "new-deployment-free-form-error")
        field.fill("team-x")
        page.get_by_role("button", name="Create Deployment").click()
        expect(page.locator(".facts")).to_contain_text("team-x")


def test_a_large_pool_gets_a_searchable_namespace_field_and_a_paged_pool_page(
    tmp_path: Path, sqlite_url: str, browser: object
) -> None:
    """150 free namespaces: New Deployment offers a search field whose suggestions come from the server as the user
    types (and a typed name works without JavaScript); the Pool page shows 100 a page, filters and sorts."""
    from playwright.sync_api import Browser

    assert isinstance(browser, Browser)
    names = ", ".join(f"pool-{i:03d}" for i in range(150))
    with serving(tmp_path, sqlite_url, VALUES.replace("names: [pool-a, pool-b]", f"names: [{names}]")) as server:
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        page = context.new_page()
        sign_up(page, server)
        page.get_by_role("link", name="New Deployment").click()
        field = page.get_by_label("Kubernetes Namespace")
        expect(field).to_have_attribute("list", "namespace-options")
        expect(page.locator("#namespace-hint")).to_contain_text("150 namespaces of the pool are free right now")
        options = page.locator("#namespace-options option")
        expect(options).to_have_count(50)  # the first 50 free names, rendered by the server
        field.fill("pool-14")
        expect(options).to_have_count(10)  # pool-140 .. pool-149, asked from the server as the user typed
        assert options.evaluate_all("os => os.map(o => o.value)") == [f"pool-14{i}" for i in range(10)]
        capture(page, "new-deployment-namespace-search")
        hint = page.locator("#namespace-hint")
        field.fill("pool-9")  # no free name contains it: the hint says so, instead of an empty list saying nothing
        expect(hint).to_have_text(
            "No free namespace contains \u201cpool-9\u201d (150 of the pool are free right now): type another part "
            "of a name."
        )
        expect(options).to_have_count(0)
        field.fill("pool-14")
        expect(hint).to_contain_text("150 namespaces of the pool are free right now: type part of a name")
        expect(options).to_have_count(10)
        field.fill("pool-145")
        page.get_by_label("Name", exact=True).fill("Big pool")
        page.get_by_role("button", name="Create Deployment").click()
        expect(page).to_have_url(re.compile(r"/deployments/[0-9a-f-]{36}$"))
        expect(page.get_by_text("pool-145").first).to_be_visible()

        page.goto(server.url("/admin/pool"))
        expect(page.locator("#pool-range")).to_have_text("Showing 1 to 100 of 150 namespaces, page 1 of 2.")
        expect(page.locator("table.list tbody tr")).to_have_count(100)
        capture(page, "pool-large")
        page.get_by_role("link", name="Next page").click()
        expect(page.locator("#pool-range")).to_have_text("Showing 101 to 150 of 150 namespaces, page 2 of 2.")
        page.goto(server.url("/admin/pool"))
        page.get_by_label("claimed").check()
        page.get_by_role("button", name="Filter").click()
        expect(page.locator("#pool-range")).to_have_text("Showing 1 to 1 of 1 matching namespaces.")
        expect(page.locator("table.list tbody th")).to_have_text(["pool-145"])
        page.goto(server.url("/admin/pool?q=pool-00"))
        page.get_by_role("link", name="Namespace").click()  # sorted by name already: the same link reverses it
        expect(page.locator("table.list tbody th").first).to_have_text("pool-009")
        context.close()

        # Without JavaScript: the field still takes a typed name, and the server checks it.
        plain = browser.new_context(viewport={"width": 1280, "height": 860}, java_script_enabled=False)
        page = plain.new_page()
        page.goto(server.url("/login"))
        page.get_by_label("Username or email").fill("ada")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("link", name="New Deployment").click()
        page.get_by_label("Name", exact=True).fill("Typed")
        page.get_by_label("Kubernetes Namespace").fill("pool-145")  # taken: refused, the form is kept
        page.get_by_role("button", name="Create Deployment").click()
        expect(page.get_by_role("alert")).to_contain_text("namespace 'pool-145' is not available")
        expect(page.get_by_label("Name", exact=True)).to_have_value("Typed")
        page.get_by_label("Kubernetes Namespace").fill("pool-149")
        page.get_by_role("button", name="Create Deployment").click()
        expect(page).to_have_url(re.compile(r"/deployments/[0-9a-f-]{36}$"))
        plain.close()
