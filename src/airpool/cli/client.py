"""GraphQL over HTTP to the airpool server, the same way the ``astro`` CLI talks to Houston.

Every failure ends as one of three things the commands turn into exit codes: :class:`Unreachable` (no server
answered: exit 3), :class:`TokenExpired` (log in again: exit 1), or a :class:`GraphQLError` carrying the server's
own message (exit 1).

The transport is the standard library's rather than httpx: a command makes a few sequential requests and needs
nothing more, and importing httpx would cost about 60 ms on every run, a fifth of the CLI's start-up budget. A
plain ``http://`` server reached without a proxy gets one POST over a socket (``plainhttp``: no import of
``urllib.request``, another 35 ms); ``https://`` and proxies from the environment go through ``urllib.request``
(TLS verification, proxy handling), imported on the first such request.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from airpool.cli import plainhttp
from airpool.domain.errors import AirpoolError, InvalidInput

DEFAULT_SERVER = "http://localhost:8871"
GRAPHQL_PATH = "/v1"
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")
#: Messages Houston uses for a token it no longer accepts (the astro CLI reads them the same way).
_EXPIRED_MESSAGES = ("AUTH_TOKEN_REFRESH_FAILED",)
_EXPIRED_CODES = ("UNAUTHENTICATED", "TOKEN_EXPIRED")


class Unreachable(Exception):
    """No HTTP answer from the server: wrong address, server down, network trouble."""


class GraphQLError(AirpoolError):
    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code or "SERVER_ERROR"


class TokenExpired(AirpoolError):
    code = "UNAUTHENTICATED"


def normalize_server(url: str) -> str:
    """``localhost:8871`` -> ``http://localhost:8871``; a bare remote host gets https; ``/v1`` is dropped."""
    url = url.strip()
    if "://" not in url:
        host = url.split("/", 1)[0].rsplit(":", 1)[0] if not url.startswith("[") else url.split("]", 1)[0] + "]"
        url = ("http://" if host in _LOCAL_HOSTS else "https://") + url
    url = url.rstrip("/")
    if url.endswith(GRAPHQL_PATH):
        url = url[: -len(GRAPHQL_PATH)]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"server URL {url!r} is not valid; expected for example {DEFAULT_SERVER}")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise InvalidInput(f"server URL {url!r} has an invalid port; expected for example {DEFAULT_SERVER}") from None
    return url.rstrip("/")


def payload(query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The request body, kept free of I/O so it is testable on its own."""
    return {"query": query, "variables": dict(variables or {})}


def result(*, server: str, status: int, body: bytes, sent_token: bool) -> dict[str, Any]:
    """The ``data`` of a response, or the matching error; pure so every branch is unit-tested.

    An authentication error means "log in again" only when a token was sent; without one (``login`` itself) the
    server's reason (for example a wrong password) is the message.
    """
    try:
        decoded = json.loads(body)
    except ValueError:
        decoded = None
    if not isinstance(decoded, dict):
        if status >= 500:
            raise GraphQLError(f"the server at {server} failed (HTTP {status}); try again or ask your admin")
        raise GraphQLError(
            f"{server} did not answer like an airpool server (HTTP {status}, no GraphQL response); check the URL"
        )
    errors = decoded.get("errors")
    if errors:
        first: dict[str, Any] = errors[0] if isinstance(errors[0], dict) else {"message": str(errors[0])}
        message = str(first.get("message") or "unknown error")
        extensions = first.get("extensions") or {}
        code = extensions.get("code")
        if code in _EXPIRED_CODES or message in _EXPIRED_MESSAGES:
            reason = str(extensions.get("reason") or message)
            if sent_token:
                raise TokenExpired(
                    f"your token for {server} has expired or is no longer valid ({reason}); "
                    f"log in again with `airpool login {server}`"
                )
            raise GraphQLError(reason, code=code)
        raise GraphQLError(message, code=code)
    data = decoded.get("data")
    if not isinstance(data, dict):
        raise GraphQLError(f"{server} sent a GraphQL response without data (HTTP {status})")
    return data


@dataclasses.dataclass(frozen=True)
class Client:
    server: str
    token: str | None = None
    timeout: float = 30.0

    def execute(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        headers = {"content-type": "application/json", "accept": "application/json"}
        if self.token:
            headers["authorization"] = self.token
        body = json.dumps(payload(query, variables)).encode()
        parts = urlsplit(self.server)
        try:
            if plainhttp.usable(parts.scheme) and parts.hostname:
                status, content = plainhttp.post(
                    parts.hostname,
                    parts.port or 80,
                    (parts.path or "") + GRAPHQL_PATH,
                    body,
                    headers,
                    timeout=self.timeout,
                )
            else:
                status, content = self._urllib(body, headers)
        except OSError as exc:  # refused, DNS, TLS, timeout, connection reset, not HTTP
            reason = getattr(exc, "reason", None) or exc
            raise Unreachable(
                f"cannot reach the airpool server at {self.server} ({reason}); "
                "check the address (`airpool context list`) and that the server is running"
            ) from None
        return result(server=self.server, status=status, body=content, sent_token=bool(self.token))

    def _urllib(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """https, or through a proxy the environment names: urllib's TLS verification and proxy handling."""
        import urllib.error
        import urllib.request

        request = urllib.request.Request(self.server + GRAPHQL_PATH, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:  # an answer all the same: GraphQL errors may come with 4xx/5xx
            return exc.code, exc.read()
