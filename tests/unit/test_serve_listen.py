"""``serve``'s listening sockets: one per address the host resolves to (as asyncio binds them for uvicorn in one
process), IPv6 ones IPv6-only, and on a refusal nothing stays bound. Real sockets on loopback."""

from __future__ import annotations

import socket
from typing import Any

import pytest
import typer

from airpool.cli import serve_supervisor
from tests.support.api_server import free_port


def _both_loopbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    """``localhost`` as a system that lists both loopback addresses resolves it (this machine lists one)."""
    resolve = socket.getaddrinfo

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        if host != "localhost":
            return resolve(host, port, *args, **kwargs)
        return [*resolve("::1", port, *args, **kwargs), *resolve("127.0.0.1", port, *args, **kwargs)]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_a_host_that_resolves_to_both_loopbacks_is_served_on_both(monkeypatch: pytest.MonkeyPatch) -> None:
    _both_loopbacks(monkeypatch)
    port = free_port()
    listeners = serve_supervisor.listen("localhost", port)
    try:
        assert sorted(s.family for s in listeners) == sorted([socket.AF_INET, socket.AF_INET6])
        for listener in listeners:
            assert listener.getblocking() is False
            if listener.family == socket.AF_INET6:
                assert listener.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
        for address in ("127.0.0.1", "::1"):
            socket.create_connection((address, port), timeout=10).close()
    finally:
        for listener in listeners:
            listener.close()


def test_a_refusal_on_one_address_leaves_nothing_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    _both_loopbacks(monkeypatch)
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        with pytest.raises(typer.Exit):
            serve_supervisor.listen("localhost", port)
    # The IPv6 socket bound before the refusal was closed: the port is free on ::1 again.
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as again:
        again.bind(("::1", port))


def test_the_ipv6_wildcard_is_ipv6_only_as_for_one_uvicorn_process() -> None:
    (listener,) = serve_supervisor.listen("::", free_port())
    with listener:
        assert listener.family == socket.AF_INET6
        assert listener.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
