"""The CLI's plain-HTTP POST (``cli.plainhttp``): answers framed by Content-Length, chunks or the close, read from
a real socket server; anything that is not an HTTP answer is an OSError the client reports as unreachable."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from airpool.cli import client, plainhttp


def test_content_length_answer() -> None:
    raw = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"data":{}}'
    assert plainhttp.parse(raw) == (200, b'{"data":{}}')


def test_chunked_answer_with_extensions_and_trailer() -> None:
    raw = (
        b"HTTP/1.1 502 Bad Gateway\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4;x=1\r\nabcd\r\n3\r\nefg\r\n0\r\nX-T: 1\r\n\r\n"
    )
    assert plainhttp.parse(raw) == (502, b"abcdefg")


def test_answer_ended_by_the_close_and_a_100_continue_first() -> None:
    raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n\r\nbody until close"
    assert plainhttp.parse(raw) == (200, b"body until close")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "closed before the answer's headers ended"),
        (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "not an HTTP answer"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort", "ended before its Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc", "chunked answer ended early"),
    ],
)
def test_what_is_not_an_http_answer_is_named(raw: bytes, message: str) -> None:
    with pytest.raises(plainhttp.BadAnswer, match=message):
        plainhttp.parse(raw)


def test_proxies_in_the_environment_and_https_go_through_urllib() -> None:
    assert plainhttp.usable("http", {})
    assert not plainhttp.usable("https", {})
    assert not plainhttp.usable("http", {"HTTP_PROXY": "http://proxy:3128"})
    assert not plainhttp.usable("http", {"all_proxy": "socks5://proxy:1080"})
    assert plainhttp.usable("http", {"HTTPS_PROXY": "http://proxy:3128"})  # only for https, which urllib serves


class _OneShotServer:
    """Accepts connections on a real socket and answers each with ``answer`` after reading the request."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(
                    next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1]
                )
                while len(body) < length:
                    body += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + body)
                conn.sendall(self.answer)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def chunked_server() -> Iterator[_OneShotServer]:
    answer = b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"dat\r\nc\r\na":{"ok":1}}\r\n0\r\n\r\n'
    server = _OneShotServer(answer)
    yield server
    server.close()


def test_client_posts_graphql_and_reads_a_chunked_answer(chunked_server: _OneShotServer) -> None:
    api = client.Client(f"http://127.0.0.1:{chunked_server.port}/prefix", token="tok")
    assert api.execute("{ ok }", {"a": 1}) == {"ok": 1}
    sent = chunked_server.requests[0]
    assert sent.startswith(b"POST /prefix/v1 HTTP/1.1\r\n")
    assert b"\r\nauthorization: tok\r\n" in sent
    assert b"\r\nConnection: close\r\n" in sent
    assert sent.endswith(b'{"query": "{ ok }", "variables": {"a": 1}}')


def test_a_server_that_is_not_http_is_unreachable() -> None:
    server = _OneShotServer(b"220 smtp.example ESMTP\r\n")
    try:
        with pytest.raises(client.Unreachable, match=r"not an HTTP answer|closed before"):
            client.Client(f"http://127.0.0.1:{server.port}").execute("{ ok }")
    finally:
        server.close()
