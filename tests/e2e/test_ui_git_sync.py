"""git-sync DAG deploys in a real browser, against ``airpool serve`` on SQLite (no commander): New Deployment's
git-sync choice (a bad key is refused naming the field, the form kept but the key never shown again), the
Deployment page's summary, and the DAG deploy page that changes the settings and keeps the stored key."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from airpool.services import commander_jobs, deployments
from tests.e2e.test_ui_flows import VALUES, capture, serving, sign_up
from tests.support.api_server import PASSWORD
from tests.support.browser import log_in

pytestmark = pytest.mark.slow

GIT_VALUES = VALUES.replace(
    "nfsMountDagDeployment: true", "nfsMountDagDeployment: true\n        gitSyncDagDeployment: true"
)
REPO = "git@git.example.com:team/dags.git"


def test_git_sync_create_and_change_its_settings(tmp_path: Path, sqlite_url: str, browser_page: Page) -> None:
    assert GIT_VALUES != VALUES
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True)
    key, public = (tmp_path / "k").read_text(), (tmp_path / "k.pub").read_text()
    page = browser_page
    with serving(tmp_path, sqlite_url, GIT_VALUES) as server:
        sign_up(page, server)
        page.get_by_role("link", name="New Deployment").click()
        group = page.get_by_role("group", name="DAG deploy")
        page.get_by_label("Name", exact=True).fill("From git")
        page.get_by_label("Kubernetes Namespace").select_option("pool-b")
        group.get_by_role("radio", name=re.compile("^git-sync")).check()
        page.get_by_label("Repository URL").fill(REPO)
        page.get_by_label("DAG folder in the repository").fill("dags")
        page.get_by_label("SSH private key").fill(public)
        page.get_by_role("button", name="Create Deployment").click()
        expect(page.get_by_role("alert")).to_contain_text("dagDeployment.sshKey is a public key")
        expect(page.get_by_label("Repository URL")).to_have_value(REPO)
        expect(page.get_by_label("SSH private key")).to_have_value("")  # never shown again
        capture(page, "new-deployment-git-sync-error")

        page.get_by_label("SSH private key").fill(key)
        page.get_by_role("button", name="Create Deployment").click()
        expect(page).to_have_url(re.compile(r"/deployments/[0-9a-f-]{36}$"))
        expect(page.locator(".facts")).to_contain_text(f"git-sync from {REPO} (default branch, folder dags)")
        expect(page.locator(".facts")).to_contain_text("SSH key stored")
        assert key.splitlines()[1] not in page.content()
        capture(page, "deployment-git-sync")
        dep_id = page.url.rsplit("/", 1)[1]
        assert deployments.git_credentials(server.platform, dep_id).ssh_key == key

        page.get_by_role("link", name="DAG deploy settings").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("DAG deploy of From git")
        expect(page.get_by_label("Repository URL")).to_have_value(REPO)
        expect(page.get_by_label(re.compile("^SSH private key"))).to_have_value("")
        expect(page.locator("label[for=ssh_key]")).to_contain_text("one is stored")
        page.get_by_label("Branch", exact=True).fill("release..2")
        page.get_by_role("button", name="Save DAG deploy settings").click()
        expect(page.get_by_role("alert")).to_contain_text("dagDeployment.branchName 'release..2' contains '..'")
        capture(page, "deployment-dag-deploy-error")
        page.get_by_label("Branch", exact=True).fill("release")
        page.get_by_label("Sync interval (seconds)").fill("30")
        page.get_by_role("button", name="Save DAG deploy settings").click()
        expect(page).to_have_url(re.compile(rf"/deployments/{dep_id}$"))
        expect(page.locator(".facts")).to_contain_text(f"git-sync from {REPO} (release, folder dags), every 30 s")
        assert deployments.git_credentials(server.platform, dep_id).ssh_key == key  # kept
        assert "upgrade" in [j.kind for j in commander_jobs.for_deployment(server.platform, dep_id)]


def test_only_the_chosen_mechanisms_fields_show_and_without_javascript_all_show_labelled(
    tmp_path: Path, sqlite_url: str, browser_page: Page
) -> None:
    # A newcomer saw the git-sync fields (URL, key, known hosts) under "Image" chosen and filled them in vain.
    every_mechanism = GIT_VALUES.replace("clusterRoles: false", "clusterRoles: true")  # NFS needs cluster roles
    page = browser_page
    with serving(tmp_path, sqlite_url, every_mechanism) as server:
        sign_up(page, server)
        page.get_by_role("link", name="New Deployment").click()
        group = page.get_by_role("group", name="DAG deploy")
        git_fields = page.get_by_role("group", name=re.compile("^git-sync settings"))
        nfs_fields = page.get_by_role("group", name=re.compile("^NFS settings"))
        expect(group.get_by_role("radio", name=re.compile("^Image"))).to_be_checked()
        expect(page.get_by_label("Repository URL")).to_be_hidden()
        expect(page.get_by_label("SSH private key")).to_be_hidden()
        expect(page.get_by_label("NFS location")).to_be_hidden()
        capture(page, "new-deployment-image-chosen")
        group.get_by_role("radio", name=re.compile("^git-sync")).check()
        expect(git_fields).to_be_visible()
        expect(page.get_by_label("Repository URL")).to_be_visible()
        expect(page.get_by_label("NFS location")).to_be_hidden()
        group.get_by_role("radio", name=re.compile("^NFS")).check()
        expect(page.get_by_label("NFS location")).to_be_visible()
        expect(git_fields).to_be_hidden()
        group.get_by_role("radio", name=re.compile("^Image")).check()
        expect(nfs_fields).to_be_hidden()
        expect(git_fields).to_be_hidden()

        # A refused form comes back with git-sync chosen: its fields show at once, the others stay hidden.
        page.get_by_label("Kubernetes Namespace").select_option("pool-a")
        group.get_by_role("radio", name=re.compile("^git-sync")).check()
        page.get_by_label("Repository URL").fill(REPO)
        page.get_by_role("button", name="Create Deployment").click()  # no name: refused
        expect(page.get_by_role("alert")).to_be_visible()
        expect(page.get_by_label("Repository URL")).to_have_value(REPO)
        expect(page.get_by_label("Repository URL")).to_be_visible()
        expect(nfs_fields).to_be_hidden()

        # Without JavaScript every mechanism's fields show, each group named for its choice, and the form works.
        browser = page.context.browser
        assert browser is not None
        context = browser.new_context(viewport={"width": 1280, "height": 860}, java_script_enabled=False)
        try:
            plain = context.new_page()
            log_in(plain, server.base, "ada", PASSWORD)
            plain.get_by_role("link", name="New Deployment").click()
            plain_group = plain.get_by_role("group", name="DAG deploy")
            expect(plain_group.get_by_role("radio", name=re.compile("^Image"))).to_be_checked()
            expect(
                plain.get_by_role("group", name="git-sync settings (used only when git-sync is chosen)")
            ).to_be_visible()
            expect(plain.get_by_role("group", name="NFS settings (used only when NFS is chosen)")).to_be_visible()
            expect(plain.get_by_label("Repository URL")).to_be_visible()
            expect(plain.get_by_label("NFS location")).to_be_visible()
            capture(plain, "new-deployment-dag-deploy-without-javascript")
            plain.get_by_label("Name", exact=True).fill("Plain form")
            plain.get_by_label("Kubernetes Namespace").select_option("pool-b")
            plain_group.get_by_role("radio", name=re.compile("^git-sync")).check()
            plain.get_by_label("Repository URL").fill(REPO)
            plain.get_by_label("NFS location").fill("ignored.example.com:/not/chosen")
            plain.get_by_role("button", name="Create Deployment").click()
            expect(plain).to_have_url(re.compile(r"/deployments/[0-9a-f-]{36}$"))
            expect(plain.locator(".facts")).to_contain_text(f"git-sync from {REPO}")

            # Its DAG deploy page has the same choice: git-sync chosen, its fields and NFS's shown.
            plain.get_by_role("link", name="DAG deploy settings").click()
            expect(plain.get_by_label("Repository URL")).to_have_value(REPO)
            expect(plain.get_by_label("Repository URL")).to_be_visible()
            dag_page = plain.url
        finally:
            context.close()

        # With JavaScript, the same DAG deploy page shows the git-sync fields only while git-sync is chosen.
        page.goto(dag_page)
        expect(page.get_by_label("Repository URL")).to_be_visible()
        expect(page.get_by_label(re.compile("^SSH private key"))).to_be_visible()
        page.get_by_role("group", name="DAG deploy").get_by_role("radio", name=re.compile("^Image")).check()
        expect(page.get_by_label("Repository URL")).to_be_hidden()
        expect(page.get_by_label(re.compile("^SSH private key"))).to_be_hidden()
