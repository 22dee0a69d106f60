"""A Deployment's Settings and Variables pages in a real browser against ``airpool serve`` (no commander; the test
plays commander's part through the services it calls): edit label and description, resize with a preview of the
namespace quota (refusals shown on the form, nothing saved), upgrade after a confirmation, cancel it, see a failed
upgrade's reason; variables whose secret values never reach the browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from airpool.services import access, auth, commander_jobs, deployments, upgrades, variables, workspaces
from tests.e2e.test_ui_flows import VALUES, Server, capture, serving, sign_up
from tests.support.api_server import PASSWORD

pytestmark = pytest.mark.slow

SECRET = "s3cr3t-never-in-the-page"
SYSTEM = access.Actor(user_id="system", username="system", is_system_admin=True)
QUEUED = "Airflow 3.3.2 is queued for commander."
MIGRATING = "Commander is migrating the database to Airflow 3.3.2; this can no longer be cancelled."


@pytest.fixture
def ui_server(tmp_path: Path, sqlite_url: str) -> Iterator[Server]:
    with serving(tmp_path, sqlite_url, VALUES) as running:
        yield running


def _create(page: Page, label: str, version: str) -> str:
    page.get_by_role("link", name="New Deployment").click()
    page.get_by_label("Name", exact=True).fill(label)
    page.get_by_label("Airflow version").select_option(version)
    page.get_by_label("Kubernetes Namespace").select_option("pool-a")
    page.get_by_role("button", name="Create Deployment").click()
    expect(page).to_have_url(re.compile(r"/deployments/[0-9a-f-]{36}$"))
    return page.url.rsplit("/", 1)[1]


def _commander_takes_upgrade(server: Server) -> tuple[int, str]:
    while True:
        leased = commander_jobs.lease(server.platform, worker_id="ui-test-commander")
        assert leased is not None
        if leased.job.kind == "upgrade":
            return leased.job.id, "ui-test-commander"
        commander_jobs.complete(server.platform, leased.job.id, worker_id="ui-test-commander")


def test_settings_edit_resize_with_quota_preview_and_upgrade_with_confirmation(
    ui_server: Server, browser_page: Page
) -> None:
    page, server = browser_page, ui_server
    sign_up(page, server)
    dep_id = _create(page, "Sales", "2.11.2")
    page.get_by_role("link", name="Deployment settings").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Settings of Sales")
    capture(page, "deployment-settings")

    page.get_by_label("Name").fill("Sales EU")
    page.get_by_label("Description").fill("nightly loads")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(re.compile(f"/deployments/{dep_id}$"))
    expect(page.get_by_role("status")).to_contain_text("Saved.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Sales EU")

    # Resize: the preview shows what the namespace quota becomes, before anything is saved.
    page.get_by_role("link", name="Deployment settings").click()
    page.get_by_label("workers replicas").fill("3")
    page.get_by_label("workers CPU limit").fill("2")
    page.get_by_role("button", name="Preview quota").click()
    expect(page.locator('[data-preview="pods"]')).to_have_text("66")  # 60 + twice three workers
    expect(page.locator('[data-preview="limits.cpu"]')).to_have_text("44000m")  # 32 + 2 x 3 x 2 cores
    expect(page.locator('[data-preview="container-max"]')).to_have_text("2 CPU, 2Gi")
    capture(page, "deployment-settings-preview")
    assert deployments.get(server.platform, SYSTEM, dep_id).config == {}
    # Beyond the admin's limit: the server's refusal on the form as typed, nothing saved.
    page.get_by_label("workers replicas").fill("99")
    page.get_by_role("button", name="Save resources").click()
    expect(page.get_by_role("alert")).to_contain_text("config.workers.replicas 99 is outside what this installation")
    expect(page.get_by_label("workers replicas")).to_have_value("99")
    assert deployments.get(server.platform, SYSTEM, dep_id).config == {}
    page.get_by_label("workers replicas").fill("3")
    page.get_by_role("button", name="Save resources").click()
    expect(page.get_by_role("status")).to_contain_text("Saved the new sizes of workers")
    assert deployments.get(server.platform, SYSTEM, dep_id).config["workers"]["replicas"] == 3

    # Upgrade 2.11.2 -> 3.3.2 asks first, then is queued; it can be cancelled before its migration.
    page.get_by_role("link", name="Deployment settings").click()
    page.get_by_label("Upgrade to").select_option("3.3.2")
    page.get_by_role("button", name="Upgrade…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Upgrade Sales EU to Airflow 3.3.2?")
    expect(page.locator("main")).to_contain_text("A migrated database is not migrated back.")
    expect(page.locator("main")).to_contain_text("This is a major upgrade")
    capture(page, "deployment-upgrade-confirm")
    page.get_by_role("button", name="Upgrade to Airflow 3.3.2").click()
    expect(page.get_by_role("status")).to_contain_text("Upgrade to Airflow 3.3.2 started")
    expect(page.locator("[data-rollout-card]")).to_contain_text("Airflow 3.3.2 is queued for commander.")
    page.get_by_role("link", name="Deployment settings").click()
    page.get_by_role("button", name="Cancel the upgrade").click()
    expect(page.get_by_role("status")).to_contain_text("Upgrade to Airflow 3.3.2 cancelled")
    assert deployments.get(server.platform, SYSTEM, dep_id).desired_airflow_version is None

    # Asked again; commander's migration fails. The Deployment page, left open, follows each step without a reload:
    # migrating, then the failure's reason with 2.11.2 still running.
    page.get_by_label("Upgrade to").select_option("3.3.2")
    page.get_by_role("button", name="Upgrade…").click()
    page.get_by_role("button", name="Upgrade to Airflow 3.3.2").click()
    card, notice = page.locator("[data-rollout-card]"), page.locator('[data-rollout-field="notice"]')
    version = page.locator('[data-rollout-field="version"]')
    expect(notice).to_have_text(QUEUED)
    lease = _commander_takes_upgrade(server)
    assert upgrades.begin_migration(server.platform, dep_id, version="3.3.2", image=None, lease=lease)
    expect(notice).to_have_text(MIGRATING)
    page.get_by_role("link", name="Deployment settings").click()
    expect(page.locator('[data-rollout-field="notice"]')).to_have_text(MIGRATING)
    expect(page.get_by_role("button", name="Cancel the upgrade")).to_be_hidden()
    page.go_back()
    expect(notice).to_have_text(MIGRATING)
    reason = (
        "deploying Airflow 3.3.2 failed: the migration Job failed: BackoffLimitExceeded; Airflow 2.11.2 keeps running"
    )
    upgrades.fail_rollout(server.platform, dep_id, reason=reason, lease=lease)
    commander_jobs.complete(server.platform, lease[0], worker_id=lease[1])
    expect(page.locator('[data-rollout-field="error"]')).to_have_text(f"Last upgrade failed: {reason}")
    expect(notice).to_be_hidden()
    expect(version).to_have_text("2.11.2")
    capture(page, "deployment-upgrade-failed")

    # A third try succeeds: the open page drops the Upgrade box and shows Airflow 3.3.2, again without a reload.
    page.get_by_role("link", name="Deployment settings").click()
    page.get_by_label("Upgrade to").select_option("3.3.2")
    page.get_by_role("button", name="Upgrade…").click()
    page.get_by_role("button", name="Upgrade to Airflow 3.3.2").click()
    expect(notice).to_have_text(QUEUED)
    lease = _commander_takes_upgrade(server)
    assert upgrades.begin_migration(server.platform, dep_id, version="3.3.2", image=None, lease=lease)
    upgrades.finish_rollout(server.platform, dep_id, version="3.3.2", image=None, lease=lease)
    expect(card).to_be_hidden()
    expect(version).to_have_text("3.3.2")


def test_settings_page_left_open_follows_the_upgrade_and_shows_it_at_load_without_javascript(
    ui_server: Server, browser_page: Page
) -> None:
    # The Settings page's notice stayed at "queued" (and offered Cancel) until a reload while commander migrated,
    # failed and finished; it now refreshes from the Deployment page's /live answer, as that page's Upgrade box does.
    page, server = browser_page, ui_server
    sign_up(page, server)
    dep_id = _create(page, "Follow", "2.11.2")
    page.get_by_role("link", name="Deployment settings").click()
    notice, error = page.locator('[data-rollout-field="notice"]'), page.locator('[data-rollout-field="error"]')
    version = page.locator('[data-rollout-field="version"]')
    cancel, upgrade = page.get_by_role("button", name="Cancel the upgrade"), page.get_by_role("button", name="Upgrade…")
    expect(notice).to_be_hidden()
    page.get_by_label("Upgrade to").select_option("3.3.2")
    upgrade.click()
    page.get_by_role("button", name="Upgrade to Airflow 3.3.2").click()
    page.get_by_role("link", name="Deployment settings").click()
    expect(notice).to_have_text(QUEUED)
    expect(cancel).to_be_visible()
    expect(upgrade).to_be_hidden()

    # Left open: commander starts the migration, the page says so and withdraws Cancel.
    lease = _commander_takes_upgrade(server)
    assert upgrades.begin_migration(server.platform, dep_id, version="3.3.2", image=None, lease=lease)
    expect(notice).to_have_text(MIGRATING)
    expect(cancel).to_be_hidden()
    capture(page, "deployment-settings-migrating")

    # Without JavaScript the page shows the state as it was at load.
    plain = page.context.browser
    assert plain is not None
    context = plain.new_context(viewport={"width": 1280, "height": 860}, java_script_enabled=False)
    try:
        still = context.new_page()
        still.goto(server.url("/login"))
        still.get_by_label("Username or email").fill("ada")
        still.get_by_label("Password").fill(PASSWORD)
        still.get_by_role("button", name="Log in").click()
        still.goto(server.url(f"/deployments/{dep_id}/settings"))
        expect(still.locator('[data-rollout-field="notice"]')).to_have_text(MIGRATING)
        expect(still.get_by_role("button", name="Cancel the upgrade")).to_be_hidden()
        expect(still.get_by_role("button", name="Upgrade…")).to_be_hidden()
    finally:
        context.close()

    # The migration fails: the reason shows, the notice goes, and the upgrade can be asked for again.
    reason = (
        "deploying Airflow 3.3.2 failed: the migration Job failed: BackoffLimitExceeded; Airflow 2.11.2 keeps running"
    )
    upgrades.fail_rollout(server.platform, dep_id, reason=reason, lease=lease)
    commander_jobs.complete(server.platform, lease[0], worker_id=lease[1])
    expect(error).to_have_text(f"Last upgrade failed: {reason}")
    expect(notice).to_be_hidden()
    expect(upgrade).to_be_visible()
    expect(version).to_have_text("2.11.2")
    capture(page, "deployment-settings-upgrade-failed")

    # Asked again (from this page, still not reloaded) and done: the new version, nothing newer offered.
    page.get_by_label("Upgrade to").select_option("3.3.2")
    upgrade.click()
    page.get_by_role("button", name="Upgrade to Airflow 3.3.2").click()
    page.get_by_role("link", name="Deployment settings").click()
    expect(notice).to_have_text(QUEUED)
    lease = _commander_takes_upgrade(server)
    assert upgrades.begin_migration(server.platform, dep_id, version="3.3.2", image=None, lease=lease)
    upgrades.finish_rollout(server.platform, dep_id, version="3.3.2", image=None, lease=lease)
    expect(version).to_have_text("3.3.2")
    expect(notice).to_be_hidden()
    expect(error).to_be_hidden()
    expect(upgrade).to_be_hidden()
    expect(page.get_by_text("No newer version is offered on this installation.")).to_be_visible()


def test_settings_fields_are_styled_like_the_others(ui_server: Server, browser_page: Page) -> None:
    # A newcomer saw the replicas boxes at the browser's tiny default beside the CPU and memory boxes, and a small
    # unstyled Description box under a full-width Name.
    page = browser_page
    sign_up(page, ui_server)
    _create(page, "Styled", "2.11.2")
    page.get_by_role("link", name="Deployment settings").click()

    def box(label: str) -> dict[str, float]:
        found = page.get_by_label(label, exact=True).bounding_box()
        assert found is not None, label
        return dict(found)

    replicas, cpu = box("scheduler replicas"), box("scheduler CPU limit")
    assert abs(replicas["height"] - cpu["height"]) <= 1, (replicas, cpu)
    name, description = box("Name"), box("Description")
    assert abs(description["width"] - name["width"]) <= 1, (name, description)
    for label in ("scheduler replicas", "Description"):
        field = page.get_by_label(label, exact=True)
        assert field.evaluate("e => getComputedStyle(e).borderTopLeftRadius") == "6px", label
    # Each component's three boxes sit on one line, and what it allows is under its name, not under the memory box
    # (which pushed that box up out of line with the others).
    for component in ("scheduler", "webserver", "workers", "triggerer"):
        replicas = box(f"{component} replicas")
        cpu, memory = box(f"{component} CPU limit"), box(f"{component} memory limit")
        assert abs(replicas["y"] - cpu["y"]) <= 1, (component, replicas, cpu)
        assert abs(cpu["y"] - memory["y"]) <= 1, (component, cpu, memory)
        hint = page.locator(f"#{component}-allowed").bounding_box()
        name = page.get_by_role("rowheader", name=re.compile(f"^{component}")).bounding_box()
        assert hint is not None
        assert name is not None
        assert hint["x"] + hint["width"] <= replicas["x"], (component, hint, replicas)
        assert hint["y"] >= name["y"], (component, hint, name)
    capture(page, "deployment-settings-fields")

    # The workers row said nothing of the executor: with the LocalExecutor no worker runs at all.
    expect(page.locator("#workers-allowed")).not_to_contain_text("none run")
    page.get_by_label("Executor").select_option("LocalExecutor")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("link", name="Deployment settings").click()
    expect(page.locator("#workers-allowed")).to_contain_text("none run: the LocalExecutor runs tasks in the scheduler")


def test_variables_page_keeps_secret_values_out_of_the_browser(ui_server: Server, browser_page: Page) -> None:
    page, server = browser_page, ui_server
    sign_up(page, server)
    dep_id = _create(page, "Vars", "3.3.2")
    page.get_by_role("link", name="Variables").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Environment variables of Vars")
    page.get_by_label("Key 1", exact=True).fill("MODE")
    page.get_by_label("Value 1", exact=True).fill("prod")
    page.get_by_label("Key 2", exact=True).fill("API_TOKEN")
    page.get_by_label("Value 2", exact=True).fill(SECRET)
    page.get_by_label("Secret 2", exact=True).check()
    page.get_by_role("button", name="Save variables").click()
    expect(page.get_by_role("status")).to_contain_text("Saved 2 variable(s)")
    capture(page, "deployment-variables")
    assert SECRET not in page.content()
    # Listed by key: API_TOKEN first, its value field empty and masked.
    expect(page.get_by_label("Key 1", exact=True)).to_have_value("API_TOKEN")
    expect(page.get_by_label("Value 1", exact=True)).to_have_value("")
    expect(page.get_by_label("Value 1", exact=True)).to_have_attribute("type", "password")
    expect(page.get_by_label("Value 2", exact=True)).to_have_value("prod")

    # Change the plain one; the secret left empty keeps its stored value.
    page.get_by_label("Value 2", exact=True).fill("dev")
    page.get_by_role("button", name="Save variables").click()
    expect(page.get_by_role("status")).to_contain_text("Saved 2 variable(s)")
    assert dict(variables.for_commander(server.platform, dep_id).items) == {"MODE": "dev", "API_TOKEN": SECRET}

    # A bad key is refused naming it; the secret typed meanwhile is not sent back to the page.
    page.get_by_label("Key 3", exact=True).fill("NOT-VALID")
    page.get_by_label("Value 3", exact=True).fill("x")
    page.get_by_label("Value 1", exact=True).fill("typed-again-secret")
    page.get_by_role("button", name="Save variables").click()
    # Named by the form's row, as its fields are labelled (it said environmentVariables[2], a place in the list the
    # page sends, which skips empty rows).
    expect(page.get_by_role("alert")).to_contain_text("Key 3: 'NOT-VALID' is not an environment variable name")
    assert "typed-again-secret" not in page.content()
    assert SECRET not in page.content()
    assert dict(variables.for_commander(server.platform, dep_id).items) == {"MODE": "dev", "API_TOKEN": SECRET}
    # Airflow's old name of the metadata database connection airpool sets: refused, saying why.
    page.get_by_label("Key 3", exact=True).fill("")
    page.get_by_label("Key 4", exact=True).fill("AIRFLOW__CORE__SQL_ALCHEMY_CONN")
    page.get_by_label("Value 4", exact=True).fill("sqlite:////tmp/mine.db")
    page.get_by_role("button", name="Save variables").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "Key 4: AIRFLOW__CORE__SQL_ALCHEMY_CONN is the old name (Airflow before 2.3) of "
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN, the metadata database connection, which airpool sets itself"
    )
    assert dict(variables.for_commander(server.platform, dep_id).items) == {"MODE": "dev", "API_TOKEN": SECRET}

    page.goto(server.url(f"/deployments/{dep_id}/variables"))
    page.get_by_label("Remove MODE").check()
    page.get_by_role("button", name="Save variables").click()
    expect(page.get_by_role("status")).to_contain_text("Saved 1 variable(s)")
    assert dict(variables.for_commander(server.platform, dep_id).items) == {"API_TOKEN": SECRET}


def test_a_viewer_reads_settings_and_variables_but_changes_nothing(ui_server: Server, browser_page: Page) -> None:
    plat, page = ui_server.platform, browser_page
    admin = auth.authenticate(plat, auth.signup(plat, username="root", password=PASSWORD).token)
    team = workspaces.list_for(plat, admin)[0]
    auth.create_user(plat, admin, username="vera", password=PASSWORD)
    workspaces.set_member(plat, admin, team.id, username="vera", role="viewer")
    dep = deployments.create(
        plat, admin, workspace_id=team.id, label="Shared", namespace="pool-a", airflow_version="2.11.2"
    )
    variables.replace(plat, admin, dep.id, [{"key": "TOKEN", "value": SECRET, "is_secret": True}])

    page.goto(ui_server.base)
    page.get_by_label("Username or email").fill("vera")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(rf"/w/{team.id}/deployments$"))
    page.goto(ui_server.url(f"/deployments/{dep.id}/settings"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Settings of Shared")
    expect(page.get_by_label("Name")).to_be_disabled()
    for button in ("Save", "Save resources", "Upgrade…"):
        expect(page.get_by_role("button", name=button, exact=True)).to_have_count(0)
    page.goto(ui_server.url(f"/deployments/{dep.id}/variables"))
    expect(page.get_by_label("Key 1", exact=True)).to_have_value("TOKEN")
    expect(page.get_by_role("button", name="Save variables")).to_have_count(0)
    assert SECRET not in page.content()
    capture(page, "deployment-variables-viewer")

    # Posts with vera's own valid token are refused by the services; nothing changes.
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token
    for path, form in (
        (f"/deployments/{dep.id}/settings", {"action": "general", "label": "Taken over"}),
        (f"/deployments/{dep.id}/upgrade", {"version": "3.3.2"}),
        (f"/deployments/{dep.id}/variables", {"key.0": "TOKEN", "value.0": "replaced", "secret.0": "on"}),
    ):
        refused = page.request.post(ui_server.url(path), form={"csrf_token": token, **form}, max_redirects=0)
        assert refused.status == 403, path
    after = deployments.get(plat, admin, dep.id)
    assert (after.label, after.desired_airflow_version) == ("Shared", None)
    assert dict(variables.for_commander(plat, dep.id).items) == {"TOKEN": SECRET}
