"""The HTTP protocol of ``airpool serve --workers N``: uvicorn's own, with TCP_NODELAY on every connection.

With several workers uvicorn binds the listening socket itself as ``socket.socket(family=...)``, whose protocol
number is 0, and asyncio turns Nagle's algorithm off only for sockets that say IPPROTO_TCP. Every answer is written
as headers and then body, so without TCP_NODELAY the body waited for the client's delayed ACK: 40 ms per request
(measured: 22 requests/s at concurrency 1 with two workers against 800 with one process). One process is served
from a socket asyncio made itself, which has TCP_NODELAY already.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol


class NoDelayHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock: Any = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # not a TCP socket (a Unix socket): nothing to turn off
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
