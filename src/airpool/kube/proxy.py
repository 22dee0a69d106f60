"""GET through the API server's service proxy (``/api/v1/namespaces/<ns>/services/<name>:<port>/proxy/<path>``).

Commander reads Airflow's own health endpoint this way, with its own identity: the API server checks
``get services/proxy`` in the namespace and then forwards the request to one ready endpoint of the Service, so
commander needs no network path to the pods of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import httpx2
from lightkube import Client

from airpool.kube import client as kube_client


@dataclass(frozen=True)
class ProxyResponse:
    status: int
    body: str


def service_get(client: Client, *, namespace: str, service: str, port: int, path: str, timeout: float) -> ProxyResponse:
    """One GET; raises ``httpx2.TransportError`` when the API server cannot be reached. Any HTTP status is
    returned (the proxy answers 503 when the Service has no ready endpoint, 403 when commander may not proxy)."""
    url = (
        f"/api/v1/namespaces/{quote(namespace, safe='')}/services/{quote(service, safe='')}:{port}/proxy/"
        f"{path.lstrip('/')}"
    )
    # lightkube has no public call for subresource paths of this shape: a request of our own, same identity.
    response = kube_client.http_of(client).get(url, timeout=httpx2.Timeout(timeout))
    return ProxyResponse(status=response.status_code, body=response.text)
