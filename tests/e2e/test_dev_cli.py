"""``airpool dev`` as a user runs it: a subprocess, real binaries, kubectl, and nothing left behind."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from airpool.devcluster import processes

AIRPOOL = str(Path(sys.executable).parent / "airpool")

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def _airpool(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AIRPOOL, "dev", *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


def _pids(data_dir: Path) -> list[int]:
    return [int(path.read_text().split()[0]) for path in (data_dir / "run").glob("*.pid")]


def _ports(data_dir: Path) -> list[int]:
    return list(json.loads((data_dir / "cluster.json").read_text())["ports"].values())


def _processes_of(data_dir: Path) -> list[str]:
    """Command lines of live processes that mention ``data_dir``: what a start may have left behind."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(data_dir) in argv and processes.alive(int(cmdline.parent.name)):
            found.append(argv)
    return found


def _assert_nothing_left(data_dir: Path, pids: list[int], ports: list[int]) -> None:
    assert [pid for pid in pids if processes.alive(pid)] == []
    assert _processes_of(data_dir) == []
    assert [port for port in ports if not processes.port_is_free(port)] == []


def _assert_one_paragraph_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    message = result.stderr.strip()
    assert message.startswith("Error: ")
    assert "Traceback" not in result.stdout + result.stderr
    assert "\n" not in message
    return message


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A data directory whose cluster is always stopped afterwards, even when the test fails half-way."""
    path = tmp_path / "devcluster"
    yield path
    _airpool("down", "--data-dir", str(path))


def test_up_serves_kubectl_and_down_leaves_nothing(data_dir: Path) -> None:
    up = _airpool("up", "--data-dir", str(data_dir))
    assert up.returncode == 0, up.stderr
    admin = data_dir / "admin.kubeconfig"
    assert str(admin) in up.stdout

    kubectl = subprocess.run(
        ["kubectl", "--kubeconfig", str(admin), "get", "namespaces", "-o", "name"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert kubectl.returncode == 0, kubectl.stderr
    assert "namespace/astronomer" in kubectl.stdout.split()

    commander = _airpool("kubeconfig", "--commander", "--data-dir", str(data_dir)).stdout.strip()
    assert commander == str(data_dir / "commander.kubeconfig")
    whoami = subprocess.run(
        ["kubectl", "--kubeconfig", commander, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert whoami.stdout == "system:serviceaccount:astronomer:astronomer-commander", whoami.stderr

    status = _airpool("status", "--data-dir", str(data_dir))
    assert status.returncode == 0, status.stdout
    assert status.stdout.count("healthy") == 5

    pids, ports = _pids(data_dir), _ports(data_dir)
    assert len(pids) == 5
    down = _airpool("down", "--data-dir", str(data_dir))
    assert down.returncode == 0, down.stderr
    _assert_nothing_left(data_dir, pids, ports)
    assert _airpool("status", "--data-dir", str(data_dir)).returncode == 1
    assert "no dev cluster was running" in _airpool("down", "--data-dir", str(data_dir)).stdout


def test_up_with_an_empty_binaries_directory_explains_how_to_build(data_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    result = _airpool("up", "--data-dir", str(data_dir), env={"AIRPOOL_K8S_BIN_DIR": str(empty)})
    message = _assert_one_paragraph_error(result)
    assert "kube-apiserver" in message
    assert str(empty) in message
    assert "airpool dev build" in message
    assert _processes_of(data_dir) == []


def test_up_on_a_bound_port_names_the_port_and_starts_nothing(data_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _airpool("up", "--data-dir", str(data_dir), "--port", str(port))
    message = _assert_one_paragraph_error(result)
    assert f"Port {port} on 127.0.0.1 is already in use" in message
    assert _processes_of(data_dir) == []


def test_up_that_times_out_shows_the_logs_and_stops_everything(data_dir: Path) -> None:
    result = _airpool("up", "--data-dir", str(data_dir), "--timeout", "0.2")
    assert result.returncode != 0
    assert "did not become healthy in time" in result.stderr
    assert "--- kube-apiserver (" in result.stderr  # that component's own log lines follow
    assert "Traceback" not in result.stderr
    _assert_nothing_left(data_dir, [], _ports(data_dir))
