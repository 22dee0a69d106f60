"""git-sync DAG deploys through ``/v1`` as the astro CLI sends them (``--dag-deployment-type git_sync`` with
``--git-repository-url``, ``--git-branch-name``, ``--dag-directory-path``, ``--sync-interval``, ``--ssh-key``,
``--known-hosts``: the CLI reads the two files and sends their text), on SQLite and PostgreSQL: the settings show on
the Deployment and reach commander, the SSH key and known hosts are stored apart and never answered, bad input is
refused naming the field and writes nothing, and updateDeployment changes the settings."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from airpool.config.model import DeploymentSettings, PlatformConfig
from airpool.services import commander_jobs, deployments
from airpool.services.platform import Platform
from airpool.store import models
from tests.integration.test_api_houston import CREATE_DEPLOYMENT, WORKSPACES
from tests.support import platform as tp
from tests.support.api_server import GraphQL, make_platform, running_app
from tests.support.houston_deployments import UPDATE_DEPLOYMENT

POOL = ("pool-a", "pool-b", "pool-c")
REPO = "ssh://git@git.example.com:2222/srv/git/dags.git"
DAG = "query($id: String!) { deployment(where: {id: $id}) { id dagDeployment { type repositoryUrl branchName rev dagDirectoryLocation syncInterval sshKey knownHosts nfsLocation } } }"  # noqa: E501
APP_CONFIG = "{ appConfig { featureFlags } }"


def _config(*, git_sync: bool = True) -> PlatformConfig:
    base = tp.config(pool_names=POOL, hard_delete=True)
    return dataclasses.replace(base, deployments=DeploymentSettings(hard_delete=True, git_sync_dag_deploys=git_sync))


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A real SSH key pair (ssh-keygen), a second key, and a known_hosts line."""
    root = tmp_path_factory.mktemp("keys")
    out: dict[str, str] = {}
    for name in ("one", "two", "host"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / name)], check=True)
        out[name] = (root / name).read_text()
        out[f"{name}.pub"] = (root / f"{name}.pub").read_text()
    kind, blob = out["host.pub"].split()[:2]
    out["known_hosts"] = f"[git.example.com]:2222 {kind} {blob}\n"
    return out


@pytest.fixture
def served(database_url: str, request: pytest.FixtureRequest) -> Iterator[tuple[Platform, GraphQL, str]]:
    plat = make_platform(database_url, getattr(request, "param", _config()))
    try:
        with running_app(plat) as base:
            admin = GraphQL(base).signup("admin")
            ws = admin.data(WORKSPACES)["workspaces"][0]["id"]
            yield plat, admin, ws
    finally:
        plat.close()


def _cli_vars(ws: str, dag: dict[str, Any]) -> dict[str, Any]:
    """What ``astro deployment create --executor local --dag-deployment-type git_sync ...`` sends."""
    return {"label": "gitty", "workspaceId": ws, "executor": "LocalExecutor", "cloudRole": "", "dagDeployment": dag}


def _dump(plat: Platform) -> str:
    """Every row of every table except the credentials' own, as text."""
    with plat.db.read() as s:
        rows: list[str] = []
        for table in models.Base.metadata.sorted_tables:
            if table.name == "deployment_git_credentials":
                continue
            rows += [json.dumps([str(v) for v in row]) for row in s.execute(sa.select(table))]
        return "\n".join(rows)


def _snapshot(plat: Platform) -> dict[str, int]:
    with plat.db.read() as s:
        return {
            t.__tablename__: int(s.scalar(sa.select(sa.func.count()).select_from(t)) or 0)
            for t in (models.Deployment, models.CommanderJob, models.AuditEvent, models.DeploymentGitCredentials)
        }


def test_app_config_says_git_sync_is_on_only_when_configured(database_url: str) -> None:
    for enabled in (True, False):
        plat = make_platform(database_url, _config(git_sync=enabled))
        try:
            with running_app(plat) as base:
                flags = GraphQL(base).data(APP_CONFIG)["appConfig"]["featureFlags"]
                assert flags["gitSyncDagDeployment"] is enabled
        finally:
            plat.close()


def test_create_as_the_cli_sends_it_keeps_the_key_apart_and_never_answers_it(
    served: tuple[Platform, GraphQL, str], keys: dict[str, str]
) -> None:
    plat, admin, ws = served
    dag = {
        "type": "git_sync",
        "repositoryUrl": REPO,
        "branchName": "main",
        "dagDirectoryLocation": "dags",
        "syncInterval": 30,
        "sshKey": keys["one"],
        "knownHosts": keys["known_hosts"],
    }
    made = admin.data(CREATE_DEPLOYMENT, _cli_vars(ws, dag))["createDeployment"]
    shown = admin.data(DAG, {"id": made["id"]})["deployment"]["dagDeployment"]
    assert shown == {
        "type": "git_sync",
        "repositoryUrl": REPO,
        "branchName": "main",
        "rev": None,
        "dagDirectoryLocation": "dags",
        "syncInterval": 30,
        "sshKey": None,
        "knownHosts": None,
        "nfsLocation": None,
    }
    # commander's job and the Deployment record carry the settings, never the key
    install = commander_jobs.for_deployment(plat, made["id"])[0]
    assert install.payload["dag_deployment"]["repository_url"] == REPO
    secret_line = keys["one"].splitlines()[1]
    assert secret_line not in _dump(plat)
    assert keys["known_hosts"].split()[2] not in _dump(plat)
    kept = deployments.git_credentials(plat, made["id"])
    assert kept.ssh_key == keys["one"]
    assert kept.known_hosts == keys["known_hosts"]
    assert "BEGIN" not in repr(kept)


def test_https_repository_without_a_key(served: tuple[Platform, GraphQL, str]) -> None:
    plat, admin, ws = served
    dag = {"type": "git_sync", "repositoryUrl": "https://git.example.com/team/dags.git", "syncInterval": 60}
    made = admin.data(CREATE_DEPLOYMENT, _cli_vars(ws, dag))["createDeployment"]
    shown = admin.data(DAG, {"id": made["id"]})["deployment"]["dagDeployment"]
    assert (shown["type"], shown["branchName"], shown["dagDirectoryLocation"]) == ("git_sync", None, "")
    assert deployments.git_credentials(plat, made["id"]).ssh_key == ""


@pytest.mark.parametrize(
    ("dag", "message"),
    [
        ({"type": "git_sync"}, "dagDeployment type git_sync needs a repositoryUrl"),
        ({"type": "git_sync", "repositoryUrl": "ftp://h/r"}, "dagDeployment.repositoryUrl 'ftp://h/r' uses scheme"),
        ({"type": "git_sync", "repositoryUrl": "not a url"}, "dagDeployment.repositoryUrl 'not a url' contains"),
        ({"type": "git_sync", "repositoryUrl": REPO, "syncInterval": 0}, "dagDeployment.syncInterval 0 is out of"),
        ({"type": "git_sync", "repositoryUrl": REPO, "branchName": "a b"}, "dagDeployment.branchName 'a b'"),
        ({"type": "git_sync", "repositoryUrl": REPO, "dagDirectoryLocation": "../x"}, "dagDeployment.dagDirectoryL"),
        ({"type": "git_sync", "repositoryUrl": REPO, "sshKey": "one.pub"}, "dagDeployment.sshKey is a public key"),
        ({"type": "git_sync", "repositoryUrl": REPO, "sshKey": "hello"}, "dagDeployment.sshKey is not an SSH priv"),
        (
            {"type": "git_sync", "repositoryUrl": "https://h/r.git", "sshKey": "one"},
            "dagDeployment.sshKey is only used with an SSH repositoryUrl",
        ),
        (
            {"type": "git_sync", "repositoryUrl": REPO, "sshKey": "one", "knownHosts": "h ssh-ed25519 !!"},
            "dagDeployment.knownHosts line 1 is not a known_hosts entry",
        ),
        ({"type": "git_sync", "repositoryUrl": REPO, "knownHosts": "known_hosts"}, "dagDeployment.knownHosts needs"),
        ({"type": "image", "sshKey": "one"}, "dagDeployment.sshKey is a git-sync setting"),
    ],
)
def test_bad_git_sync_settings_are_refused_naming_the_field_and_write_nothing(
    served: tuple[Platform, GraphQL, str], keys: dict[str, str], dag: dict[str, Any], message: str
) -> None:
    plat, admin, ws = served
    dag = {k: keys.get(v, v) if k in ("sshKey", "knownHosts") else v for k, v in dag.items()}
    before = _snapshot(plat)
    error = admin.error(CREATE_DEPLOYMENT, _cli_vars(ws, dag))
    assert error["message"].startswith(message), error["message"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert keys["one"].splitlines()[1] not in error["message"]
    assert _snapshot(plat) == before


@pytest.mark.parametrize("served", [_config(git_sync=False)], indirect=True)
def test_git_sync_the_installation_did_not_enable_is_refused_with_the_key_to_set(
    served: tuple[Platform, GraphQL, str],
) -> None:
    plat, admin, ws = served
    before = _snapshot(plat)
    error = admin.error(CREATE_DEPLOYMENT, _cli_vars(ws, {"type": "git_sync", "repositoryUrl": REPO}))
    assert "git-sync DAG deploys are not enabled on this installation" in error["message"]
    assert "astronomer.houston.config.deployments.gitSyncDagDeployment: true" in error["message"]
    assert _snapshot(plat) == before


def _update(admin: GraphQL, dep_id: str, dag: dict[str, Any]) -> dict[str, Any]:
    """``astro deployment update <id> --dag-deployment-type git_sync ...``."""
    variables = {"deploymentId": dep_id, "payload": {}, "cloudRole": "", "dagDeployment": dag}
    return dict(admin.data(UPDATE_DEPLOYMENT, variables)["updateDeployment"])


def test_update_changes_settings_keeps_or_replaces_the_key_and_queues_an_upgrade(
    served: tuple[Platform, GraphQL, str], keys: dict[str, str]
) -> None:
    plat, admin, ws = served
    first = {"type": "git_sync", "repositoryUrl": REPO, "sshKey": keys["one"], "syncInterval": 60}
    made = admin.data(CREATE_DEPLOYMENT, _cli_vars(ws, first))["createDeployment"]
    dep_id = made["id"]

    # a new branch only: the key stays, an upgrade is queued
    _update(admin, dep_id, {"type": "git_sync", "branchName": "release", "syncInterval": 60})
    shown = admin.data(DAG, {"id": dep_id})["deployment"]["dagDeployment"]
    assert (shown["repositoryUrl"], shown["branchName"]) == (REPO, "release")
    assert deployments.git_credentials(plat, dep_id).ssh_key == keys["one"]
    assert [j.kind for j in commander_jobs.for_deployment(plat, dep_id)].count("upgrade") == 1

    # a new key and known hosts replace the stored ones
    _update(admin, dep_id, {"type": "git_sync", "sshKey": keys["two"], "knownHosts": keys["known_hosts"]})
    kept = deployments.git_credentials(plat, dep_id)
    assert (kept.ssh_key, kept.known_hosts) == (keys["two"], keys["known_hosts"])

    # nothing new: nothing queued
    jobs = len(commander_jobs.for_deployment(plat, dep_id))
    _update(admin, dep_id, {"type": "git_sync", "syncInterval": 60})
    assert len(commander_jobs.for_deployment(plat, dep_id)) == jobs

    # a bad change is refused and changes nothing
    error = admin.error(
        UPDATE_DEPLOYMENT,
        {"deploymentId": dep_id, "payload": {}, "dagDeployment": {"type": "git_sync", "syncInterval": -5}},
    )
    assert error["message"].startswith("dagDeployment.syncInterval -5 is out of range")
    assert admin.data(DAG, {"id": dep_id})["deployment"]["dagDeployment"]["syncInterval"] == 60

    # back to image-based deploys: the credentials go too
    _update(admin, dep_id, {"type": "image"})
    assert admin.data(DAG, {"id": dep_id})["deployment"]["dagDeployment"]["type"] == "image"
    with plat.db.read() as s:
        assert s.get(models.DeploymentGitCredentials, dep_id) is None


def test_an_https_url_drops_a_stored_key(served: tuple[Platform, GraphQL, str], keys: dict[str, str]) -> None:
    plat, admin, ws = served
    dag = {"type": "git_sync", "repositoryUrl": REPO, "sshKey": keys["one"], "knownHosts": keys["known_hosts"]}
    dep_id = admin.data(CREATE_DEPLOYMENT, _cli_vars(ws, dag))["createDeployment"]["id"]
    _update(admin, dep_id, {"type": "git_sync", "repositoryUrl": "https://git.example.com/dags.git"})
    assert deployments.git_credentials(plat, dep_id).ssh_key == ""
