"""One HTTP/1.1 POST over a plain socket, for ``http://`` servers reached without a proxy.

``urllib.request`` costs about 35 ms of imports on every run (``http.client`` parses headers with the ``email``
package, and ``ssl`` comes along), a quarter of ``airpool deployment list``, which scripts poll and which is
measured against ``helm list``. A GraphQL request needs only a fraction of HTTP: one POST with a JSON body on a
connection closed after the answer (``Connection: close``), whose answer is a status line, headers, and a body
sized by ``Content-Length``, sent chunked, or ended by the close. ``https://`` servers and any proxy setting in the
environment keep using ``urllib.request`` (``client.Client``), so TLS verification and proxies work as before.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

#: Environment variables that route plain-HTTP requests through a proxy (urllib reads them too).
PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY")
#: An answer larger than this is not a GraphQL response of ours.
MAX_ANSWER_BYTES = 256 * 1024 * 1024


class BadAnswer(OSError):
    """The server's bytes are not an HTTP/1.x answer."""


def usable(scheme: str, environ: Mapping[str, str] | None = None) -> bool:
    """True for ``http`` with no proxy configured in the environment."""
    env = os.environ if environ is None else environ
    return scheme == "http" and not any(env.get(name) for name in PROXY_VARIABLES)


def post(
    host: str, port: int, path: str, body: bytes, headers: Mapping[str, str], *, timeout: float
) -> tuple[int, bytes]:
    """POST ``body`` to ``http://host:port/path``; returns (status, body). Raises ``OSError`` (refused, reset,
    timed out, or ``BadAnswer``) when no HTTP answer came back."""
    authority = f"[{host}]" if ":" in host else host
    lines = [f"POST {path} HTTP/1.1", f"Host: {authority}:{port}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks: list[bytes] = []
        size = 0
        while chunk := sock.recv(65536):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise BadAnswer(f"the answer is larger than {MAX_ANSWER_BYTES} bytes")
    return parse(b"".join(chunks))


def parse(raw: bytes) -> tuple[int, bytes]:
    """(status, body) of a complete HTTP/1.x answer (the connection closed after it); pure, for unit tests."""
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        raise BadAnswer("the connection closed before the answer's headers ended")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise BadAnswer(f"not an HTTP answer: {status_line[:80]!r}")
    status = int(parts[1])
    if status == 100:  # "100 Continue" before the real answer
        return parse(rest)
    fields: dict[str, str] = {}
    for line in header_lines:
        name, colon, value = line.partition(":")
        if colon:
            fields[name.strip().lower()] = value.strip()
    if "chunked" in fields.get("transfer-encoding", "").lower():
        return status, _dechunk(rest)
    length = fields.get("content-length")
    if length is not None:
        if not length.isdigit() or int(length) > len(rest):
            raise BadAnswer(f"the answer ended before its Content-Length ({length}) was read")
        return status, rest[: int(length)]
    return status, rest


def _dechunk(data: bytes) -> bytes:
    body: list[bytes] = []
    at = 0
    while True:
        end = data.find(b"\r\n", at)
        if end < 0:
            raise BadAnswer("a chunked answer ended early")
        size_text = data[at:end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BadAnswer(f"bad chunk size {size_text[:20]!r}") from None
        if size == 0:
            return b"".join(body)
        start = end + 2
        if start + size > len(data):
            raise BadAnswer("a chunked answer ended early")
        body.append(data[start : start + size])
        at = start + size + 2
