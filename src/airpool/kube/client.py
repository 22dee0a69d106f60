"""Open a lightkube client for one identity: an admin kubeconfig, or commander's own token."""

from __future__ import annotations

from pathlib import Path

import httpx2
from lightkube import Client
from lightkube.config.kubeconfig import KubeConfig

COMMANDER_FIELD_MANAGER = "airpool-commander"
ADMIN_FIELD_MANAGER = "airpool-admin"


def connect(kubeconfig: Path | None = None, *, field_manager: str, timeout: float = 30.0) -> Client:
    """A client for the kubeconfig's current context; in a pod without one, the pod's service account.

    ``trust_env`` is off so that a proxy variable in the environment never redirects cluster traffic.
    """
    config = KubeConfig.from_file(str(kubeconfig)) if kubeconfig is not None else KubeConfig.from_env()
    return Client(config=config, field_manager=field_manager, timeout=httpx2.Timeout(timeout), trust_env=False)
