"""Open a lightkube client for one identity: an admin kubeconfig, or commander's own token."""

from __future__ import annotations

from pathlib import Path

import httpx2
from lightkube import Client
from lightkube.config.kubeconfig import KubeConfig

COMMANDER_FIELD_MANAGER = "airpool-commander"
ADMIN_FIELD_MANAGER = "airpool-admin"


def connect(
    kubeconfig: Path | None = None, *, field_manager: str, timeout: float = 30.0, service_account_only: bool = False
) -> Client:
    """A client for the kubeconfig's current context; without one, KUBECONFIG/~/.kube/config or the pod's account.

    ``service_account_only``: without a kubeconfig, only the pod's own service account will do -- commander must
    never borrow whatever admin credentials happen to sit in ``~/.kube/config``. ``trust_env`` is off so that a
    proxy variable in the environment never redirects cluster traffic.
    """
    if kubeconfig is not None:
        config = KubeConfig.from_file(str(kubeconfig))
    elif service_account_only:
        config = KubeConfig.from_service_account()
    else:
        config = KubeConfig.from_env()
    return Client(config=config, field_manager=field_manager, timeout=httpx2.Timeout(timeout), trust_env=False)
