"""``airpool deployment create --git-repository-url ...`` against a real ``airpool serve`` (SQLite, a pool, no
commander): the key and known hosts are read from their files (only the repository host's known_hosts lines are
sent, as the astro CLI does), the settings show in ``status``, and the server's refusals come back as they are."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import cli
from tests.support.api_server import PASSWORD, serve_process

pytestmark = pytest.mark.slow


def _login(tmp_path: Path, *, git_sync: bool) -> Iterator[Path]:
    values = tmp_path / "values.yaml"
    values.write_text(
        "global:\n  features:\n    namespacePools:\n      enabled: true\n      namespaces:\n"
        "        create: true\n        names: [pool-a, pool-b]\n"
        "astronomer:\n  houston:\n    config:\n      deployments:\n"
        f"        gitSyncDagDeployment: {str(git_sync).lower()}\n"
    )
    env = {"AIRPOOL_ADMIN_USERNAME": "admin", "AIRPOOL_ADMIN_PASSWORD": PASSWORD}
    with serve_process(
        values=values, database_url=f"sqlite:///{tmp_path / 'airpool.db'}", extra_args=["--migrate"], env=env
    ) as served:
        yield cli.login(tmp_path / "cli" / "config.yaml", served.base, username="admin", password=PASSWORD)


@pytest.fixture
def git_on(tmp_path: Path) -> Iterator[Path]:
    yield from _login(tmp_path, git_sync=True)


@pytest.fixture
def key_files(tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "deploy_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    kind, blob = (tmp_path / "deploy_key.pub").read_text().split()[:2]
    known = tmp_path / "known_hosts"
    known.write_text(f"other.example.com {kind} {blob}\ngit.example.com {kind} {blob}\n")
    return key, known


def test_git_sync_options_create_a_git_sync_deployment(git_on: Path, key_files: tuple[Path, Path]) -> None:
    key, known = key_files
    made = cli.run(
        git_on,
        *("deployment", "create", "-l", "gitty", "-n", "pool-a"),
        *("--git-repository-url", "git@git.example.com:team/dags.git", "--git-branch-name", "main"),
        *("--dag-directory-path", "dags", "--sync-interval", "30"),
        *("--ssh-key", str(key), "--known-hosts", str(known)),
    )
    assert made.code == 0, made
    assert "DAGs: git-sync from git@git.example.com:team/dags.git (main, folder dags), every 30 s" in made.out
    shown = cli.run(git_on, "deployment", "status", "gitty")
    assert "git-sync from git@git.example.com:team/dags.git" in shown.out
    assert key.read_text().splitlines()[1] not in shown.out + made.out
    [listed] = json.loads(cli.run(git_on, "deployment", "list", "-o", "json").out)
    assert listed["dagDeployment"]["type"] == "git_sync"

    changed = cli.run(git_on, "deployment", "update", "gitty", "--git-branch-name", "release", "--sync-interval", "120")
    assert changed.code == 0, changed
    shown = cli.run(git_on, "deployment", "status", "gitty")
    assert "git-sync from git@git.example.com:team/dags.git (release, folder dags), every 120 s" in shown.out
    bad = cli.run(git_on, "deployment", "update", "gitty", "--git-branch-name", "a..b")
    assert bad.code == 1, bad
    assert "dagDeployment.branchName 'a..b'" in bad.err

    missing = cli.run(git_on, "deployment", "create", "-l", "x", "-n", "pool-b", "--git-repository-url",
                      "git@git.example.com:t/d.git", "--ssh-key", str(key) + ".nope")  # fmt: skip
    assert missing.code == 2, missing
    assert "cannot read" in missing.err
    public = cli.run(git_on, "deployment", "create", "-l", "x", "-n", "pool-b", "--git-repository-url",
                     "git@git.example.com:t/d.git", "--ssh-key", str(key) + ".pub")  # fmt: skip
    assert public.code == 1, public
    assert "dagDeployment.sshKey is a public key" in public.err
    assert "Traceback" not in public.err
    no_line = cli.run(
        git_on,
        *("deployment", "create", "-l", "x", "-n", "pool-b"),
        *("--git-repository-url", "git@elsewhere.example.com:t/d.git", "--ssh-key", str(key)),
        *("--known-hosts", str(known)),
    )
    assert no_line.code == 2, no_line
    assert "has no line for host 'elsewhere.example.com'" in no_line.err


def test_git_sync_is_refused_where_the_server_does_not_enable_it(tmp_path: Path) -> None:
    for config in _login(tmp_path, git_sync=False):
        refused = cli.run(config, "deployment", "create", "-l", "x", "-n", "pool-a", "--git-repository-url",
                          "https://git.example.com/d.git")  # fmt: skip
        assert refused.code == 1, refused
        assert "this server does not allow git-sync DAG deploys" in refused.err
        assert "gitSyncDagDeployment is false" in refused.err
