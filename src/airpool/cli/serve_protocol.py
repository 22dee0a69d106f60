"""The HTTP protocol of ``airpool serve``: uvicorn's httptools protocol, with TCP_NODELAY on every connection and a
bound on the size of a request's head.

- **TCP_NODELAY.** With several workers uvicorn binds the listening socket itself as ``socket.socket(family=...)``,
  whose protocol number is 0, and asyncio turns Nagle's algorithm off only for sockets that say IPPROTO_TCP. Every
  answer is written as headers and then body, so without TCP_NODELAY the body waited for the client's delayed ACK:
  40 ms per request (measured: 22 requests/s at concurrency 1 with two workers against 800 with one process).
- **A bounded head.** httptools (uvicorn's C parser, about half the CPU of h11 per request) keeps every header a
  client sends: 2 MB of headers were read and answered. h11, used before, refused a head past 16 KiB. Past
  ``MAX_HEAD_BYTES`` (request line and headers) the request gets uvicorn's own ``400 Invalid HTTP request
  received.`` and the connection is closed, as h11's limit did. httptools reports a header only once it has
  all of it and buffers it until then (by repeated concatenation: 100 MB of one unterminated header value took 24 s
  of the event loop's CPU and the memory to match, and was never answered), so the bytes received while a head is
  still incomplete are counted too: a head that has not ended within ``MAX_HEAD_BYTES`` is refused as it arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: Request line plus headers, in bytes (h11's default limit was 16 KiB; browsers send a few KiB with cookies).
MAX_HEAD_BYTES = 64 * 1024


class HeadTooLarge(Exception):
    """Raised from a parser callback: httptools reports it as a parser error and uvicorn answers 400."""


class HTTPProtocol(HttpToolsProtocol):
    _head_bytes = 0  # request line and headers of the current request, as httptools reported them
    _in_head = False  # between the start of a request and the end of its headers
    _heads = 0  # requests begun on this connection
    _unfinished_head_bytes = 0  # bytes received for the current request's head while it was still incomplete

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # as uvicorn's
        sock: Any = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # not a TCP socket (a Unix socket): nothing to turn off
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        in_head, heads = self._in_head, self._heads
        super().data_received(data)
        if not (in_head and self._in_head and heads == self._heads) or self.transport.is_closing():
            return  # not all of ``data`` belongs to one head (a chunk where a head began is not counted)
        self._unfinished_head_bytes += len(data)
        if self._unfinished_head_bytes > MAX_HEAD_BYTES:
            msg = "Invalid HTTP request received."
            self.logger.warning("%s (request line and headers larger than %d bytes)", msg, MAX_HEAD_BYTES)
            self.send_400_response(msg)

    def on_message_begin(self) -> None:
        self._head_bytes = self._unfinished_head_bytes = 0
        self._in_head = True
        self._heads += 1
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            raise HeadTooLarge(f"request line and headers are larger than {MAX_HEAD_BYTES} bytes")
