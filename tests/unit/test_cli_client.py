"""The GraphQL client's pure parts: server addresses, request bodies, and how each kind of answer is reported."""

from __future__ import annotations

import json
import socket

import pytest

from airpool.cli import client
from airpool.domain.errors import InvalidInput

SERVER = "http://localhost:8871"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("localhost:8871", "http://localhost:8871"),
        ("127.0.0.1:9000/", "http://127.0.0.1:9000"),
        ("http://localhost:8871/v1", "http://localhost:8871"),
        ("airpool.example.com", "https://airpool.example.com"),
        ("https://airpool.example.com/", "https://airpool.example.com"),
        (" http://10.0.0.5:8871 ", "http://10.0.0.5:8871"),
    ],
)
def test_normalize_server(given: str, expected: str) -> None:
    assert client.normalize_server(given) == expected


@pytest.mark.parametrize("bad", ["ftp://x", "http://", "localhost:port", "http:///v1"])
def test_bad_server_url_says_what_is_expected(bad: str) -> None:
    with pytest.raises(InvalidInput, match="expected for example http://localhost:8871"):
        client.normalize_server(bad)


def test_payload_is_plain_data() -> None:
    assert client.payload("query { a }", {"x": 1}) == {"query": "query { a }", "variables": {"x": 1}}
    assert client.payload("query { a }") == {"query": "query { a }", "variables": {}}


def _body(obj: object) -> bytes:
    return json.dumps(obj).encode()


def test_data_is_returned() -> None:
    assert client.result(server=SERVER, status=200, body=_body({"data": {"a": 1}}), sent_token=True) == {"a": 1}


def test_first_error_message_is_the_error() -> None:
    body = _body({"errors": [{"message": "no kubernetes namespaces are available", "extensions": {"code": "X"}}]})
    with pytest.raises(client.GraphQLError, match="no kubernetes namespaces are available") as info:
        client.result(server=SERVER, status=200, body=body, sent_token=True)
    assert info.value.code == "X"


def test_refused_token_asks_to_log_in_again() -> None:
    error = {"message": "AUTH_TOKEN_REFRESH_FAILED", "extensions": {"code": "UNAUTHENTICATED", "reason": "expired"}}
    with pytest.raises(client.TokenExpired, match=r"expired or is no longer valid \(expired\).*airpool login"):
        client.result(server=SERVER, status=200, body=_body({"errors": [error]}), sent_token=True)


def test_authentication_error_without_token_is_the_reason() -> None:
    error = {
        "message": "AUTH_TOKEN_REFRESH_FAILED",
        "extensions": {"code": "UNAUTHENTICATED", "reason": "bad password"},
    }
    with pytest.raises(client.GraphQLError, match=r"^bad password$"):
        client.result(server=SERVER, status=200, body=_body({"errors": [error]}), sent_token=False)


def test_non_graphql_answers_are_explained() -> None:
    with pytest.raises(client.GraphQLError, match=r"did not answer like an airpool server \(HTTP 404"):
        client.result(server=SERVER, status=404, body=b"<html>not found</html>", sent_token=False)
    with pytest.raises(client.GraphQLError, match=r"failed \(HTTP 502\)"):
        client.result(server=SERVER, status=502, body=b"bad gateway", sent_token=False)
    with pytest.raises(client.GraphQLError, match="without data"):
        client.result(server=SERVER, status=200, body=_body({"data": None}), sent_token=False)


def test_closed_port_is_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: nothing listens there
    api = client.Client(server=f"http://127.0.0.1:{port}", token="t")
    with pytest.raises(client.Unreachable, match=rf"cannot reach the airpool server at http://127.0.0.1:{port}"):
        api.execute("query { appConfig { version } }")
