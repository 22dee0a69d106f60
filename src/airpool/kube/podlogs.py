"""Open one container's log (``GET /api/v1/namespaces/<ns>/pods/<pod>/log``) as a stream of lines.

lightkube's ``Client.log`` takes only ``sinceSeconds`` and hides the response, so a follower blocked on a quiet
container could never be stopped. This returns the streaming response itself: ``close()`` from another thread
ends a follow at once (the reader's iteration raises), and ``sinceTime`` / ``limitBytes`` are available. Lines come
with the runtime's RFC 3339 timestamp in front (``timestamps=true``), which ``split_timestamp`` takes apart.
"""

from __future__ import annotations

import contextlib
import socket
from datetime import UTC, datetime
from urllib.parse import quote

import httpx2
from lightkube import Client

from airpool.kube import client as kube_client


class LogUnavailable(Exception):
    """The API server refused or could not give this container's log (``status`` 0: no answer at all)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def open_log(
    client: Client,
    *,
    namespace: str,
    pod: str,
    container: str,
    follow: bool = False,
    since: datetime | None = None,
    tail_lines: int | None = None,
    connect_timeout: float = 10.0,
) -> httpx2.Response:
    """A streaming response (caller closes it); ``LogUnavailable`` for any answer but 200."""
    params = {"container": container, "timestamps": "true"}
    if follow:
        params["follow"] = "true"
    if since is not None:
        # sinceTime has whole seconds; the caller drops the lines of that second it has already seen.
        params["sinceTime"] = since.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    if tail_lines is not None:
        params["tailLines"] = str(tail_lines)
    url = f"/api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(pod, safe='')}/log"
    # No read timeout while following: a quiet container sends nothing for as long as it likes.
    timeout = httpx2.Timeout(connect_timeout, read=None if follow else 60.0)
    # lightkube has no public call that returns the stream itself: the same identity and connections, through httpx.
    http = kube_client.http_of(client)
    try:
        response = http.send(http.build_request("GET", url, params=params, timeout=timeout), stream=True)
    except httpx2.TransportError as exc:
        raise LogUnavailable(0, f"the API server did not answer: {exc}") from None
    if response.status_code != 200:
        try:
            body = response.read().decode("utf-8", "replace")
        finally:
            response.close()
        raise LogUnavailable(response.status_code, _message(body) or f"HTTP {response.status_code}")
    return response


def abort(response: httpx2.Response) -> None:
    """Close a stream another thread may be blocked reading (a follow on a quiet container): closing the socket
    alone does not wake a blocked ``recv`` on Linux, shutting it down does."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(Exception):
        response.close()


def _message(body: str) -> str:
    import json

    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:300]
    return str(data.get("message", "")).strip() if isinstance(data, dict) else ""


def split_timestamp(line: str) -> tuple[datetime, str] | None:
    """``2026-11-30T10:00:01.123456789Z text`` -> (time, text); None when the line carries no timestamp."""
    stamp, _, text = line.partition(" ")
    parsed = parse_time(stamp)
    return None if parsed is None else (parsed, text)


def parse_time(stamp: str) -> datetime | None:
    """RFC 3339 with up to nanoseconds (Python keeps microseconds; the rest is cut, not rounded)."""
    if not stamp.endswith("Z") or "T" not in stamp:
        return None
    body = stamp[:-1]
    if "." in body:
        whole, frac = body.split(".", 1)
        body = f"{whole}.{(frac + '000000')[:6]}"
    try:
        return datetime.fromisoformat(body).replace(tzinfo=UTC)
    except ValueError:
        return None
