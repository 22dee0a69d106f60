"""Commander: the only part of airpool that changes the cluster, acting with its own identity only.

``start_worker(platform)`` runs a job worker in a background thread (``airpool serve`` does this by default);
``airpool commander`` runs one alone. Commander's Kubernetes identity comes from ``AIRPOOL_COMMANDER_KUBECONFIG``
(a kubeconfig with commander's token), else the usual kubeconfig lookup, else the pod's service account.
Submodules are imported lazily so that importing this package stays cheap for the CLI.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

KUBECONFIG_ENV = "AIRPOOL_COMMANDER_KUBECONFIG"


def kubeconfig_from_env(environ: dict[str, str] | None = None) -> Path | None:
    value = (environ if environ is not None else os.environ).get(KUBECONFIG_ENV, "").strip()
    return Path(value) if value else None


def start_worker(platform: Any, *, kubeconfig: Path | None = None) -> Any:
    """Start a worker thread; returns a handle whose ``stop()`` returns once the worker stopped."""
    from airpool.commander import logfmt, worker
    from airpool.kube import client as kube_client

    if not logging.getLogger("airpool.commander").handlers:
        logfmt.configure()
    client = kube_client.connect(kubeconfig or kubeconfig_from_env(), field_manager=kube_client.COMMANDER_FIELD_MANAGER)
    return worker.WorkerHandle(worker.Worker(platform, client))
