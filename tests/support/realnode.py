"""The real-node dev cluster for tests: one per session (conftest's ``real_node_cluster``), and a tiny test image.

Only one real node fits on a machine, and several sessions (other worktrees, CI) may want it: ``running`` waits
for the machine lock (generously) instead of failing at once when another session holds the node.

Use in a test::

    def test_x(real_node_cluster: RealNodeCluster) -> None:
        reference = real_node_cluster.import_image(path_to_archive)     # images.oci.write_image's output
        client = real_node_cluster.admin_client()
        ...  # pods with image=reference, imagePullPolicy=Never run on node airpool-node
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import lightkube
import pytest

from airpool import devcluster
from airpool.devcluster import realnode
from airpool.devcluster.images import node as node_images
from airpool.devcluster.images import oci
from airpool.kube import client as kube_client

# Another session's real-node tests may hold the node this long; several engineers' worktrees on one machine take
# turns, so they may raise it (CI has one session and never waits).
LOCK_WAIT = float(os.environ.get("AIRPOOL_REALNODE_LOCK_WAIT", "900"))
START_TIMEOUT = 420.0  # a loaded 2-core machine: etcd, API server, containerd, kubelet, ... until the node is Ready
TEST_IMAGE_APPLETS = (
    "sh", "cat", "echo", "sleep", "ls", "mkdir", "grep", "wget", "nslookup", "httpd", "ssl_client", "test", "id",
    "hostname", "env", "true",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class RealNodeCluster:
    """The running real-node dev cluster of this session."""

    info: devcluster.ClusterInfo

    @property
    def node_name(self) -> str:
        return realnode.NODE_NAME

    def import_image(self, archive: Path) -> str:
        """Import an image archive into the node's containerd; return its reference (pods: imagePullPolicy Never)."""
        return realnode.import_image(archive)

    def admin_client(self) -> lightkube.Client:
        return kube_client.connect(self.info.admin_kubeconfig, field_manager=kube_client.ADMIN_FIELD_MANAGER)


@contextlib.contextmanager
def running(data_dir: Path) -> Iterator[RealNodeCluster]:
    """Start a dev cluster with a real node in ``data_dir`` (after another session's node is gone); stop it after."""
    reason = realnode.why_not()
    if reason is not None:
        pytest.fail(realnode.explain(reason), pytrace=False)
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            cluster = devcluster.start(data_dir, real_node=True, timeout=START_TIMEOUT, die_with_caller=True)
            break
        except realnode.NodeBusy as busy:
            if time.monotonic() > deadline:
                pytest.fail(f"waited {LOCK_WAIT:.0f} s for the machine's real node: {busy.message}", pytrace=False)
            time.sleep(2.0)
        except devcluster.DevClusterError as exc:
            pytest.fail(exc.message, pytrace=False)
    try:
        yield RealNodeCluster(info=cluster)
    finally:
        devcluster.stop(data_dir)


def build_test_image(directory: Path) -> Path:
    """A small image for node tests: Debian's static busybox with a shell, wget (HTTPS too), nslookup and httpd."""
    digest = hashlib.sha256(node_images.BUSYBOX.read_bytes()).hexdigest()[:12]
    path = directory / f"realnode-test-{digest}.tar"
    if not path.is_file():
        oci.write_image(
            path,
            reference=f"{node_images.REGISTRY}/realnode-test:{digest}",
            layers=[
                oci.Layer.from_files(
                    {
                        "bin/busybox": oci.File(source=node_images.BUSYBOX, mode=0o755),
                        **{f"bin/{applet}": oci.File(symlink="busybox") for applet in TEST_IMAGE_APPLETS},
                        "www/index.html": oci.File(content=b"hello from a real pod\n"),
                        "tmp": oci.File(mode=0o1777),
                    }
                )
            ],
            config=oci.ImageConfig(cmd=["/bin/sh"], env={"PATH": "/bin"}),
        )
    return path
