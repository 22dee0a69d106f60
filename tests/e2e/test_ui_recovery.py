"""The UI's ways forward from stuck states, in a real browser against ``airpool serve`` (no commander; the test
plays commander's part through the services it calls): Retry now on a failed Deployment, Retry removal and
Force release on a namespace stuck releasing."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from airpool.services import commander_jobs, pool
from airpool.services.commander_jobs import JobKind
from tests.e2e.test_ui_flows import Server, _admin, capture, create_deployment, nav, server, sign_up

pytestmark = pytest.mark.slow
__all__ = ["server"]  # the fixture, shared with test_ui_flows


def _fail(server: Server, kind: JobKind, error: str) -> None:
    leased = commander_jobs.lease(server.platform, worker_id="ui-test-commander", kinds=(kind,))
    assert leased is not None
    commander_jobs.fail(server.platform, leased.job.id, worker_id="ui-test-commander", error=error, temporary=False)


def test_retry_now_requeues_a_failed_install(server: Server, browser_page: Page) -> None:
    page = browser_page
    sign_up(page, server)
    create_deployment(page, "Flaky", "pool-a")
    expect(page.get_by_role("button", name="Retry now")).to_have_count(0)
    _fail(server, JobKind.INSTALL, "commander lacks 1 permission(s): create pods (core) in namespace pool-a")
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_contain_text("failed")
    capture(page, "deployment-failed")
    page.get_by_role("button", name="Retry now").click()
    expect(page.get_by_role("status")).to_contain_text("Queued the install again; commander runs it now.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("deploying")
    expect(page.locator("[data-field=message]")).to_have_text("install queued again")
    leased = commander_jobs.lease(server.platform, worker_id="ui-test-commander", kinds=(JobKind.INSTALL,))
    assert leased is not None


def test_a_namespace_stuck_releasing_is_retried_then_force_released(server: Server, browser_page: Page) -> None:
    page = browser_page
    sign_up(page, server)
    dep_id = create_deployment(page, "Stuck", "pool-b")
    page.get_by_role("link", name="Delete…").click()
    page.get_by_label(re.compile("Type the release name")).fill(_release(server, dep_id))
    page.get_by_role("button", name="Delete Deployment").click()
    _fail(server, JobKind.UNINSTALL, "connection refused")

    nav(page, "Pool").click()
    row = page.get_by_role("row", name=re.compile("pool-b"))
    expect(row).to_contain_text("releasing")
    expect(row).to_contain_text("uninstall failed: connection refused")
    capture(page, "pool-stuck-releasing")
    row.get_by_role("button", name="Retry removal").click()
    expect(page.get_by_role("status")).to_contain_text("Queued the uninstall of")
    _fail(server, JobKind.UNINSTALL, "connection refused again")

    page.reload()
    row = page.get_by_role("row", name=re.compile("pool-b"))
    row.get_by_role("link", name="Force release").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Release pool-b now?")
    capture(page, "pool-force-release")
    page.get_by_role("button", name="Force release pool-b").click()
    expect(page.get_by_role("status")).to_contain_text("Namespace pool-b is misconfigured: force-released by an admin")
    expect(page.get_by_role("row", name=re.compile("pool-b"))).to_contain_text("misconfigured")
    pool.record_health(server.platform, "pool-b", ok=True)  # commander's check finds it clean (played here)
    page.reload()
    expect(page.get_by_role("row", name=re.compile("pool-b"))).to_contain_text("available")


def _release(server: Server, dep_id: str) -> str:
    from airpool.services import deployments

    return deployments.get(server.platform, _admin(server), dep_id).release_name
