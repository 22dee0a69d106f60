"""Open a lightkube client for one identity: an admin kubeconfig, or commander's own token."""

from __future__ import annotations

import threading
import weakref
from pathlib import Path

import httpx2
from lightkube import Client
from lightkube.config import client_adapter
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
    transport = _transport(config)
    client = Client(
        config=config,
        field_manager=field_manager,
        timeout=httpx2.Timeout(timeout),
        trust_env=False,
        transport=transport,
    )
    if transport is not None:
        _TRANSPORTS[client] = transport
    return client


#: The transport ``connect`` gave each client, for requests of our own over the same connections (``kube.lists``).
_TRANSPORTS: weakref.WeakKeyDictionary[Client, httpx2.HTTPTransport] = weakref.WeakKeyDictionary()


def transport_of(client: Client) -> httpx2.HTTPTransport | None:
    """The transport (pool of kept-alive connections) of a client ``connect`` made; None for any other client."""
    return _TRANSPORTS.get(client)


#: Seconds a request of ``http_of``'s client may take unless it says otherwise (as ``connect``'s default).
HTTP_TIMEOUT = 30.0
_http_lock = threading.Lock()
_HTTP: weakref.WeakKeyDictionary[Client, httpx2.Client] = weakref.WeakKeyDictionary()


def http_of(client: Client) -> httpx2.Client:
    """An httpx client for requests lightkube's public API cannot make (a list at a resource version, a service
    proxy path), for the same API server and identity as ``client``: built with lightkube's public
    ``client_adapter`` from ``client.config`` (server, credentials, CA), over the same transport -- the same
    kept-alive connections -- when ``connect`` made ``client``. Relative URLs (``/api/v1/...``); one per client."""
    with _http_lock:
        http = _HTTP.get(client)
        if http is None:
            params = client_adapter.ConnectionParams(
                timeout=httpx2.Timeout(HTTP_TIMEOUT), trust_env=False, transport=transport_of(client)
            )
            http = _HTTP[client] = client_adapter.Client(client.config, params)
        return http


#: How long an idle connection to the API server is kept for the next request. httpx's default of 5 s closed
#: commander's connections between most of its bursts (a sweep of an uninstall opens 16; a pool health pass runs
#: every minute), so each burst paid TLS handshakes again: measured on the dev cluster, an uninstall's sweep on
#: fresh connections took 0.16 s of commander's CPU against 0.13 s on open ones. Below the API server's own idle
#: timeout (90 s), like client-go's transport.
KEEPALIVE_SECONDS = 60.0


def _transport(config: KubeConfig) -> httpx2.HTTPTransport | None:
    """lightkube's transport for ``config`` (its TLS context: the cluster's CA, the user's client certificate),
    keeping idle connections ``KEEPALIVE_SECONDS``; None for a kubeconfig lightkube refuses (no context, no user),
    so that lightkube says why as before."""
    single = config.get()
    if single is None or single.user is None:
        return None
    tls = client_adapter.verify_cluster(single.cluster, single.user, single.abs_file, trust_env=False)
    limits = httpx2.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=KEEPALIVE_SECONDS)
    return httpx2.HTTPTransport(verify=tls, trust_env=False, limits=limits)
