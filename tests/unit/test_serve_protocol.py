"""``serve --workers N``: uvicorn binds the shared socket with protocol number 0, so asyncio leaves Nagle's algorithm
on for its connections and every answer's body waited for the client's delayed ACK (40 ms a request). The protocol
airpool hands uvicorn turns TCP_NODELAY on for each connection: checked on a real accepted TCP connection."""

from __future__ import annotations

import asyncio
import socket

import uvicorn
from uvicorn.server import ServerState

from airpool.cli.serve_protocol import NoDelayHTTPProtocol
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
    before, after = aio.run(_nodelay_of_accepted(NoDelayHTTPProtocol), timeout=60)
    assert before == 0  # and uvicorn's own protocol leaves it so (after == 0 with it)
    assert after != 0
