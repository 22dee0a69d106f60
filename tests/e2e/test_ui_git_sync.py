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
