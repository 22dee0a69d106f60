"""Commander: the only part of airpool that changes the cluster, acting with its own identity only.

``start_worker(platform)`` runs a job worker in a background thread (``airpool serve`` does this by default);
``airpool commander`` runs one alone. Commander's Kubernetes identity comes from ``AIRPOOL_COMMANDER_KUBECONFIG``
(a kubeconfig with commander's token), else the pod's own service account -- never an admin's kubeconfig.
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


def start_worker(platform: Any, *, kubeconfig: Path | None = None, concurrency: int = 4) -> Any:
    """Start ``concurrency`` worker threads and the log endpoint (``log_server``); returns a handle whose
    ``stop()`` returns once they stopped."""
    from airpool import logfmt
    from airpool.commander import log_server, worker

    if not logging.getLogger().handlers and not logging.getLogger("airpool.commander").handlers:
        logfmt.configure(logger="airpool.commander")
    client = connect(kubeconfig)
    logs = log_server.LogServer(platform, client).start()
    return _Both(worker.start(platform, client, concurrency=concurrency), logs)


class _Both:
    """The workers and the log endpoint, stopped together (the log endpoint first: it holds no job)."""

    def __init__(self, workers: Any, logs: Any) -> None:
        self.workers = workers
        self.logs = logs

    @property
    def alive(self) -> bool:
        return bool(self.workers.alive)

    def stop(self, timeout: float | None = None) -> None:
        self.logs.stop()
        self.workers.stop(timeout)


def connect(kubeconfig: Path | None = None) -> Any:
    """Commander's own client; a missing or broken kubeconfig is a ``CommanderError`` saying where to point."""
    from lightkube.core.exceptions import ConfigError

    from airpool.commander import errors
    from airpool.kube import client as kube_client

    path = kubeconfig or kubeconfig_from_env()
    try:
        return kube_client.connect(path, field_manager=kube_client.COMMANDER_FIELD_MANAGER, service_account_only=True)
    except (ConfigError, OSError) as exc:
        where = str(path) if path else "the pod's service account (commander never uses KUBECONFIG or ~/.kube/config)"
        raise errors.CommanderError(
            f"cannot load commander's Kubernetes identity from {where}: {str(exc).rstrip('.')}. Set {KUBECONFIG_ENV} "
            "(or `airpool commander --kubeconfig`) to a kubeconfig holding commander's token."
        ) from None
