"""The web UI on the whole real path: ``airpool serve`` with its commander acting on the dev cluster (kwok nodes)
under commander's own token, driven from Chromium.

Choose a pool namespace in the dropdown, watch the open Deployment page turn healthy as commander reports
(live, no reload), hard-delete, and see the namespace offered again once commander has really removed the
Deployment's objects. Nothing here completes a job by hand: commander does all of it.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import lightkube
import pytest
from playwright.sync_api import Page, expect

from airpool import devcluster
from tests.support import commander_env
from tests.support.api_server import PASSWORD, serve_process
from tests.support.browser import check_basics, screenshot

pytestmark = [pytest.mark.slow, pytest.mark.cluster]


@dataclass(frozen=True)
class Env:
    base: str
    pool: tuple[str, str]


@pytest.fixture
def env(tmp_path: Path, dev_cluster: devcluster.ClusterInfo, admin_client: lightkube.Client) -> Iterator[Env]:
    with contextlib.ExitStack() as stack:
        first, second = sorted(stack.enter_context(commander_env.pool_namespace(admin_client)) for _ in range(2))
        values = tmp_path / "values.yaml"
        values.write_text(
            "global:\n  features:\n    namespacePools:\n      enabled: true\n      namespaces:\n"
            f"        create: false\n        names: [{first}, {second}]\n"
            "astronomer:\n  houston:\n    config:\n      deployments:\n        hardDeleteDeployment: true\n"
            f"airpool:\n  dataDir: {tmp_path / 'data'}\n"
        )
        served = stack.enter_context(
            serve_process(
                values=values,
                database_url=f"sqlite:///{tmp_path / 'airpool.db'}",
                extra_args=["--migrate"],
                env={"AIRPOOL_COMMANDER_KUBECONFIG": str(dev_cluster.commander_kubeconfig)},
                commander=True,
            )
        )
        yield Env(base=served.base, pool=(first, second))


def options(page: Page) -> list[str]:
    """The dropdown's choices, once the New Deployment page has loaded (reading does not wait by itself)."""
    expect(page.get_by_role("heading", level=1)).to_have_text("New Deployment")
    return page.get_by_label("Kubernetes Namespace").locator("option").all_inner_texts()


def test_create_watch_healthy_hard_delete_and_get_the_namespace_back(env: Env, browser_page: Page) -> None:
    first, second = env.pool
    page = browser_page
    page.goto(env.base)
    page.get_by_label("Username or email").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()

    page.get_by_role("link", name="New Deployment").click()
    assert options(page) == [first, second]
    page.get_by_label("Name", exact=True).fill("Nightly ETL")
    page.get_by_label("Executor").select_option("LocalExecutor")
    page.get_by_label("Kubernetes Namespace").select_option(second)
    page.get_by_role("button", name="Create Deployment").click()
    expect(page).to_have_url(re.compile(r"/deployments/[0-9a-f-]{36}$"))
    deployment_url = page.url

    # Commander installs into the namespace with its own token; the open page follows without a reload.
    badge = page.locator("h1 .status")
    expect(badge).to_have_text("healthy", timeout=240_000)
    # Fake nodes run no Airflow: the message says what healthy rests on there, and which setting decides it.
    expect(page.locator("h1 + [data-field=message]")).to_contain_text(
        "their pods report ready, but Airflow itself was not asked whether it is healthy (values.yaml sets "
        "airpool.airflow.readHealthEndpoint: false"
    )
    messages = page.get_by_role("region", name="Commander messages")
    deadline = time.monotonic() + 60  # the job list is rendered per page load: reload until commander closed it
    while "install done" not in messages.inner_text() and time.monotonic() < deadline:
        time.sleep(1)
        page.reload()
    expect(messages).to_contain_text("install done")
    check_basics(page)
    screenshot(page, "deployment-healthy-on-cluster")

    page.get_by_role("link", name="Deployments", exact=True).first.click()
    page.get_by_role("link", name="New Deployment").click()
    assert options(page) == [first]

    page.goto(deployment_url)
    page.get_by_role("link", name="Delete…").click()
    release_name = page.locator("label[for=confirm] .mono").inner_text()
    page.get_by_label(re.compile("Type the release name")).fill(release_name)
    page.get_by_role("button", name="Delete Deployment").click()
    expect(page.get_by_role("status")).to_contain_text(f"namespace {second} returns to the pool as soon as commander")

    # Offered again only once commander has verified the namespace holds none of the Deployment's objects.
    new_form = page.url.replace("/deployments", "/deployments/new")
    deadline = time.monotonic() + 180
    while True:
        page.goto(new_form)
        if second in options(page) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert options(page) == [first, second]
