"""The dev cluster's real node: containerd + runc + kubelet + kube-proxy + CoreDNS on this machine.

``airpool dev up --real-node`` adds it beside kwok's fake nodes (see docs/devcluster.md). For code that builds
images (``airpool.devcluster.images``) the entry point is::

    from airpool.devcluster import realnode

    realnode.import_image(Path("airflow.tar"))   # -> "airpool.local/airflow:3.3.2-<key>", now usable by pods

Pods name the reference with ``imagePullPolicy: Never`` (or ``IfNotPresent``); containerd never pulls anything.

``why_not()`` says why this machine cannot run the node (None when it can), ``explain(reason)`` turns that into
the paragraph ``dev up`` prints. Starting and stopping go through ``devcluster.start(..., real_node=True)`` and
``devcluster.stop``.
"""

from __future__ import annotations

from pathlib import Path

from airpool.devcluster import errors
from airpool.devcluster.images import oci
from airpool.devcluster.realnode import paths
from airpool.devcluster.realnode.network import NODE_IP, NODE_NAME
from airpool.devcluster.realnode.node import NodeBusy, explain, why_not


def import_image(archive: Path, *, timeout: float = 1800.0) -> str:
    """Import an image archive (``images.oci.write_image``) into the running real node; return its reference.

    Idempotent: importing an archive whose image is already there changes nothing.
    """
    if not paths.CONTAINERD_SOCKET.is_socket():
        raise errors.DevClusterError(
            f"No real node runs on this machine (no containerd socket at {paths.CONTAINERD_SOCKET}): start one with "
            "`airpool dev up --real-node` before importing images."
        )
    return oci.import_image(archive, address=paths.CONTAINERD_SOCKET, timeout=timeout)


def import_built_images() -> tuple[int, list[str]]:
    """Every image ``airpool dev images`` has built, into the running node (idempotent). Returns how many were
    imported and the names of those not built yet."""
    from airpool.devcluster import images

    missing: list[str] = []
    for image in images.IMAGES:
        archive = images.archive(image)
        if archive is None:
            missing.append(image.key_name)
        else:
            import_image(archive)
    return len(images.IMAGES) - len(missing), missing


__all__ = ["NODE_IP", "NODE_NAME", "NodeBusy", "explain", "import_built_images", "import_image", "why_not"]
