"""The API server client commander and the admin commands use, against the dev cluster's real API server."""

from __future__ import annotations

import time
from typing import Any

import lightkube
import pytest
from lightkube.models.authorization_v1 import ResourceAttributes, SelfSubjectAccessReviewSpec
from lightkube.resources.authorization_v1 import SelfSubjectAccessReview

from airpool.devcluster import ClusterInfo
from airpool.kube import client as kube_client
from airpool.kube import lists


def _open_connections(client: lightkube.Client) -> list[Any]:
    """The connections the client's pool holds (lightkube's httpx client, its transport's pool)."""
    return list(client._client._client._transport._pool.connections)


def _ask(client: lightkube.Client) -> None:
    """A request any authenticated identity may make: may I list namespaces?"""
    spec = SelfSubjectAccessReviewSpec(resourceAttributes=ResourceAttributes(verb="list", resource="namespaces"))
    client.create(SelfSubjectAccessReview(spec=spec))


def test_an_idle_connection_is_kept_for_the_next_burst(dev_cluster: ClusterInfo) -> None:
    """A connection idle for longer than httpx's default 5 s is still open for the next request: commander's next
    burst (an uninstall's sweep, a health pass) pays no new TLS handshakes. Both ways to authenticate: the admin's
    client certificate, commander's token."""
    clients = [
        kube_client.connect(kubeconfig, field_manager=kube_client.COMMANDER_FIELD_MANAGER)
        for kubeconfig in (dev_cluster.admin_kubeconfig, dev_cluster.commander_kubeconfig)
    ]
    for client in clients:
        _ask(client)
    opened = [_open_connections(client) for client in clients]
    assert [len(pool) for pool in opened] == [1, 1]
    time.sleep(6.0)  # the idle time under test: longer than httpx's default keep-alive
    for client in clients:
        _ask(client)
    assert [_open_connections(client) for client in clients] == opened


def test_lists_of_our_own_go_as_the_clients_identity_over_its_connections(dev_cluster: ClusterInfo) -> None:
    """``kube.lists`` sends its GETs with the lightkube client's own credentials (the admin's client certificate,
    commander's token) over the transport ``connect`` gave it: no connection of its own to the API server."""
    admin, commander = (
        kube_client.connect(kubeconfig, field_manager=kube_client.COMMANDER_FIELD_MANAGER)
        for kubeconfig in (dev_cluster.admin_kubeconfig, dev_cluster.commander_kubeconfig)
    )
    for client in (admin, commander):
        _ask(client)
    opened = [_open_connections(client) for client in (admin, commander)]
    assert [len(pool) for pool in opened] == [1, 1]

    def service_accounts(client: lightkube.Client) -> list[dict[str, Any]]:
        return lists.labelled(
            client,
            api_version="v1",
            plural="serviceaccounts",
            namespace="astronomer",
            selector="app.kubernetes.io/name=no-such-app",
            not_older_than=None,
        )

    assert service_accounts(admin) == []
    with pytest.raises(lightkube.ApiError) as refused:  # commander may not list service accounts there
        service_accounts(commander)
    assert refused.value.status.code == 403
    assert "system:serviceaccount:astronomer:astronomer-commander" in str(refused.value.status.message)
    assert [_open_connections(client) for client in (admin, commander)] == opened
