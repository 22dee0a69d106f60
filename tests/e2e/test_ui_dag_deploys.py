"""The New Deployment page's DAG deploy choice in a real browser, against ``airpool serve`` on SQLite (no
commander: the install job's payload is read back from the database, which is what commander would get)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from airpool.services import commander_jobs
from tests.e2e.test_ui_flows import VALUES, capture, serving, sign_up

pytestmark = pytest.mark.slow

NFS_VALUES = VALUES.replace("clusterRoles: false", "clusterRoles: true")


def test_nfs_choice_checks_the_location_then_creates_an_nfs_deployment(
    tmp_path: Path, sqlite_url: str, browser_page: Page
) -> None:
    page = browser_page
    with serving(tmp_path, sqlite_url, NFS_VALUES) as server:
        sign_up(page, server)
        page.get_by_role("link", name="New Deployment").click()
        group = page.get_by_role("group", name="DAG deploy")
        expect(group.get_by_role("radio", name=re.compile("^Image"))).to_be_checked()
        expect(group).to_contain_text("git-sync DAG deploys are off on this installation")  # NFS is on: not named
        expect(group).not_to_contain_text("nfsMountDagDeployment")
        page.get_by_label("Name", exact=True).fill("Shared DAGs")
        page.get_by_label("Kubernetes Namespace").select_option("pool-b")
        group.get_by_role("radio", name=re.compile("^NFS")).check()
        page.get_by_label("NFS location").fill("nfs.example.com:dags")
        page.get_by_role("button", name="Create Deployment").click()
        expect(page.get_by_role("alert")).to_contain_text("nfsLocation 'nfs.example.com:dags': path 'dags' is not")
        expect(page.get_by_label("NFS location")).to_have_value("nfs.example.com:dags")
        expect(group.get_by_role("radio", name=re.compile("^NFS"))).to_be_checked()
        capture(page, "new-deployment-nfs-error")

        page.get_by_label("NFS location").fill("nfs.example.com:/exports/dags")
        page.get_by_role("button", name="Create Deployment").click()
        expect(page).to_have_url(re.compile(r"/deployments/[0-9a-f-]{36}$"))
        expect(page.locator(".facts")).to_contain_text("NFS, read-only from nfs.example.com:/exports/dags")
        capture(page, "deployment-nfs")
        dep_id = page.url.rsplit("/", 1)[1]
        [install] = commander_jobs.for_deployment(server.platform, dep_id)
        assert install.payload == {"dag_deployment": {"type": "nfs", "nfs_location": "nfs.example.com:/exports/dags"}}


def test_nfs_choice_is_disabled_with_the_reason_in_a_pool_without_cluster_roles(
    tmp_path: Path, sqlite_url: str, browser_page: Page
) -> None:
    page = browser_page
    with serving(tmp_path, sqlite_url, VALUES) as server:
        sign_up(page, server)
        page.get_by_role("link", name="New Deployment").click()
        group = page.get_by_role("group", name="DAG deploy")
        expect(group.get_by_role("radio", name=re.compile("^NFS"))).to_be_disabled()
        expect(group).to_contain_text("NFS DAG deploys don't work if you both use namespace pools")
        expect(page.get_by_label("NFS location")).to_have_count(0)
        capture(page, "new-deployment-nfs-blocked")


def test_an_installation_with_only_image_deploys_says_how_the_others_are_turned_on(
    tmp_path: Path, sqlite_url: str, browser_page: Page
) -> None:
    # examples/values.yaml has neither git-sync nor NFS: a newcomer saw a lone "Image" choice on a Deployment's DAG
    # deploy page and no reason.
    page = browser_page
    image_only = VALUES.replace("nfsMountDagDeployment: true", "nfsMountDagDeployment: false")
    with serving(tmp_path, sqlite_url, image_only) as server:
        sign_up(page, server)
        page.get_by_role("link", name="New Deployment").click()
        expect(page.get_by_role("group", name="DAG deploy")).to_have_count(0)  # nothing to choose here
        page.get_by_label("Name", exact=True).fill("Images only")
        page.get_by_label("Kubernetes Namespace").select_option("pool-b")
        page.get_by_role("button", name="Create Deployment").click()
        expect(page).to_have_url(re.compile(r"/deployments/[0-9a-f-]{36}$"))
        page.get_by_role("link", name="DAG deploy settings").click()
        group = page.get_by_role("group", name="DAG deploy")
        expect(group.get_by_role("radio")).to_have_count(1)
        expect(group).to_contain_text(
            "git-sync and NFS DAG deploys are off on this installation; an administrator turns them on in "
            "values.yaml (astronomer.houston.config.deployments.gitSyncDagDeployment, nfsMountDagDeployment)."
        )
        capture(page, "dag-deploy-image-only")
