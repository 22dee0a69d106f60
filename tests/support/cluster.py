"""Helpers for tests against the local control plane: fresh namespaces, waiting for a condition."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lightkube import ApiError, Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace


def unique_name(prefix: str = "t") -> str:
    """A DNS-1123 name no other test uses, e.g. ``t-3f9a1c2b7d``."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@contextlib.contextmanager
def fresh_namespace(client: Client, *, prefix: str = "t", labels: dict[str, str] | None = None) -> Iterator[str]:
    """Create a uniquely named namespace as ``client`` (admin) and delete it afterwards, without waiting for it."""
    name = unique_name(prefix)
    client.create(Namespace(metadata=ObjectMeta(name=name, labels=labels)))
    try:
        yield name
    finally:
        with contextlib.suppress(ApiError):
            client.delete(Namespace, name)


def exists(client: Client, resource: Any, name: str, namespace: str | None = None) -> bool:
    """Whether the API server has the object (a 404 is False; any other error is raised)."""
    try:
        client.get(resource, name, namespace=namespace)
    except ApiError as exc:
        if exc.status.code == 404:
            return False
        raise
    return True


def wait_for(condition: Callable[[], bool], *, timeout: float, interval: float = 0.1, what: str = "condition") -> None:
    """Poll ``condition`` until it holds; fail the test with ``what`` when ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@contextlib.contextmanager
def api_server_down(data_dir: Path, admin: Client) -> Iterator[None]:
    """The dev cluster's kube-apiserver stopped for the ``with`` block (connections refused), then started again
    with the same flags and awaited: healthy, and answering the admin."""
    from airpool.devcluster import cluster

    cluster.stop_component(data_dir, "kube-apiserver")
    try:
        yield
    finally:
        cluster.start_component(data_dir, "kube-apiserver", timeout=300, die_with_caller=True)

        def answers() -> bool:
            try:
                admin.get(Namespace, "default")
            except Exception:
                return False
            return True

        wait_for(answers, timeout=300, interval=0.2, what="the restarted API server to answer")
