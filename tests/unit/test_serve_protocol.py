"""The HTTP protocol ``airpool serve`` hands uvicorn.

``serve --workers N``: uvicorn binds the shared socket with protocol number 0, so asyncio leaves Nagle's algorithm on
for its connections and every answer's body waited for the client's delayed ACK (40 ms a request); the protocol
turns TCP_NODELAY on for each connection: checked on a real accepted TCP connection. And httptools keeps every
header a client sends; the protocol refuses a request whose head passes ``MAX_HEAD_BYTES``: checked over a real
socket against a real uvicorn protocol."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from airpool.cli.serve_protocol import MAX_HEAD_BYTES, HTTPProtocol
from tests.support import aio


async def _nodelay_of_accepted(protocol: type[asyncio.Protocol]) -> tuple[int, int]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # proto 0, as uvicorn binds it
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    client = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    try:
        before = accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        config = uvicorn.Config(app=lambda scope, receive, send: None)
        config.load()
        loop = asyncio.get_running_loop()
        transport, _ = await loop.connect_accepted_socket(
            lambda: protocol(config=config, server_state=ServerState(), app_state={}), accepted
        )
        after = transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        transport.close()
        return before, after
    finally:
        client.close()
        listener.close()


def test_connections_of_a_proto_0_socket_get_tcp_nodelay() -> None:
    before, after = aio.run(_nodelay_of_accepted(HTTPProtocol), timeout=60)
    assert before == 0  # and uvicorn's own protocol leaves it so (after == 0 with it)
    assert after != 0


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def _serve(app: Any = _ok) -> tuple[asyncio.Server, int]:
    config = uvicorn.Config(app=app, log_level="critical")
    config.load()
    state = ServerState()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: HTTPProtocol(config=config, server_state=state, app_state={}), "127.0.0.1", 0
    )
    return server, server.sockets[0].getsockname()[1]


#: One header line of about 1 KB; a head of N bytes of headers is N // len(_FILLER) of them.
_FILLER = b"X-Filler: " + b"a" * 1000 + b"\r\n"


async def _status_of_request_with_headers(header_bytes: int, *, first: bytes = b"Host: test\r\n") -> str:
    """The status line the protocol answers to a request carrying about ``header_bytes`` of headers."""
    server, port = await _serve()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET / HTTP/1.1\r\n" + first + _FILLER * (header_bytes // len(_FILLER)) + b"\r\n")
        with contextlib.suppress(ConnectionError):  # a refused head may be answered before it is all sent
            await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 30)
        return status.decode().strip()
    finally:
        writer.close()
        server.close()


def test_a_request_head_past_the_bound_is_refused_and_one_within_it_served() -> None:
    assert aio.run(_status_of_request_with_headers(MAX_HEAD_BYTES // 2), timeout=60) == "HTTP/1.1 200 OK"
    assert aio.run(_status_of_request_with_headers(MAX_HEAD_BYTES * 4), timeout=60) == "HTTP/1.1 400 Bad Request"
    # 2 MB of headers were read and answered 200 before the bound (httptools keeps every header it is sent).
    assert aio.run(_status_of_request_with_headers(2_000_000), timeout=60) == "HTTP/1.1 400 Bad Request"


def test_a_websocket_upgrade_past_the_head_bound_is_refused() -> None:
    # The upgrade request goes through the same parser callbacks before the WebSocket protocol takes over.
    upgrade = (
        b"Host: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    )
    status = aio.run(_status_of_request_with_headers(MAX_HEAD_BYTES * 2, first=upgrade), timeout=60)
    assert status == "HTTP/1.1 400 Bad Request"


async def _answer_to_an_unterminated_header(chunks: int) -> str:
    """Sends one header value of ``chunks`` x 64 KiB without ever ending it; what the server did about it."""
    server, port = await _serve()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: test\r\nX-Filler: ")
        try:
            for _ in range(chunks):
                writer.write(b"a" * 65536)
                await writer.drain()
            status = await asyncio.wait_for(reader.readline(), 30)
        except ConnectionError:
            return "connection closed"
        return status.decode().strip() or "connection closed"
    finally:
        writer.close()
        server.close()


def test_an_unterminated_header_past_the_bound_is_refused_as_it_arrives() -> None:
    # httptools buffers a header until it ends (quadratic concatenation on the event loop, memory without bound):
    # 4 MB of one unfinished header value were read and never answered.
    assert aio.run(_answer_to_an_unterminated_header(64), timeout=120) in (
        "HTTP/1.1 400 Bad Request",
        "connection closed",
    )


async def _statuses_on_one_connection(requests: int, header_bytes: int) -> list[str]:
    server, port = await _serve()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = b"GET / HTTP/1.1\r\nHost: test\r\n" + _FILLER * (header_bytes // len(_FILLER)) + b"\r\n"
    statuses = []
    try:
        for _ in range(requests):
            writer.write(head)
            await writer.drain()
            statuses.append((await asyncio.wait_for(reader.readline(), 30)).decode().strip())
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            await asyncio.wait_for(reader.readexactly(2), 30)  # the body: "ok"
        return statuses
    finally:
        writer.close()
        server.close()


def test_the_head_bound_holds_per_request_on_a_kept_alive_connection() -> None:
    # Heads of 3/4 of the bound each: together far past it, each one within it.
    assert aio.run(_statuses_on_one_connection(4, MAX_HEAD_BYTES * 3 // 4), timeout=120) == ["HTTP/1.1 200 OK"] * 4
