"""``airpool commander --metrics-port``: a commander running apart from the server (the Helm chart's commander, or
beside ``serve --workers N``, whose server processes do not see commander's counters) serves its own metrics, so
the pool health checks' cost and duration can be scraped. Before, no process served them in either set-up."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
import yaml

from airpool.devcluster import ClusterInfo
from airpool.devcluster.processes import free_port
from tests.support import cluster as cluster_support
from tests.support import fake_nodes
from tests.support import platform as platform_support

pytestmark = pytest.mark.slow

AIRPOOL = str(Path(sys.executable).parent / "airpool")


def _sample(text: str, name: str) -> float | None:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


def test_a_separate_commander_serves_the_health_checks_metrics(tmp_path: Path, dev_cluster: ClusterInfo) -> None:
    # Names that do not exist in the cluster: each check is one real request, refused, so the pass ends quickly.
    names = tuple(f"absent-{uuid.uuid4().hex[:6]}-{i}" for i in range(3))
    url = f"sqlite:///{tmp_path / 'airpool.db'}"
    platform_support.make(url, platform_support.config(pool_names=names)).close()
    values = tmp_path / "values.yaml"
    pools = {"enabled": True, "namespaces": {"create": False, "names": list(names)}}
    values.write_text(yaml.safe_dump({"global": {"features": {"namespacePools": pools}}}))
    args = [AIRPOOL, "commander", "-f", str(values), "-f", str(fake_nodes.overlay(tmp_path))]
    args += ["--database-url", url, "--kubeconfig", str(dev_cluster.commander_kubeconfig)]

    with socket.create_server(("127.0.0.1", 0)) as taken:  # a port in use: refused before the worker starts
        busy = taken.getsockname()[1]
        refused = subprocess.run([*args, "--metrics-port", str(busy)], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1, refused
    assert f"Error: could not serve metrics on 127.0.0.1:{busy}: Address already in use" in refused.stderr
    assert "worker started" not in refused.stderr
    assert "Traceback" not in refused.stderr

    port = free_port()
    proc = subprocess.Popen([*args, "--metrics-port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        seen: list[str] = []

        def scraped() -> bool:
            try:
                seen.append(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text)
            except httpx.TransportError:
                return False
            return (_sample(seen[-1], 'airpool_pool_health_pass_seconds_count{kind="pass"}') or 0) >= 1

        cluster_support.wait_for(scraped, timeout=120, what="the first health pass in the metrics")
        text = seen[-1]
        assert (_sample(text, "airpool_pool_health_api_requests_total") or 0) >= len(names)
        assert (_sample(text, 'airpool_pool_health_checks_total{result="misconfigured"}') or 0) >= len(names)
        assert _sample(text, 'airpool_pool_namespaces{state="misconfigured"}') == len(names)  # read from the database
        assert _sample(text, "airpool_pool_health_pass_running") is not None
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert 'msg="serving metrics"' in err.decode()
    assert f"url=http://127.0.0.1:{port}/metrics" in err.decode()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0  # the metrics server stopped with the worker
