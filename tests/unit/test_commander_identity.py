"""Commander acts only with its own identity: it never borrows the admin's kubeconfig lying around."""

from __future__ import annotations

from pathlib import Path

import pytest

from airpool import commander
from airpool.commander.errors import CommanderError

ADMIN_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: admin, user: {token: admin-token}}]
contexts: [{name: admin, context: {cluster: c, user: admin}}]
current-context: admin
"""


def test_an_admin_kubeconfig_in_the_environment_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    admin = tmp_path / "admin.kubeconfig"
    admin.write_text(ADMIN_KUBECONFIG)
    monkeypatch.setenv("KUBECONFIG", str(admin))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv(commander.KUBECONFIG_ENV, raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(CommanderError, match="pod's service account") as caught:
        commander.connect()
    assert commander.KUBECONFIG_ENV in str(caught.value)


def test_commanders_own_kubeconfig_is_used_when_given(tmp_path: Path) -> None:
    own = tmp_path / "commander.kubeconfig"
    own.write_text(ADMIN_KUBECONFIG.replace("admin", "commander"))
    client = commander.connect(own)
    assert client.config.user.token == "commander-token"
