"""Real airpool servers for API tests: the app in uvicorn on a free port (thread), or ``airpool serve`` processes.

Tests talk to them over HTTP with ``GraphQL``, the way the astro CLI does (POST /v1, raw token in the
``authorization`` header).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from airpool.api.app import create_app
from airpool.config.model import PlatformConfig
from airpool.services import platform
from airpool.services.platform import Platform
from tests.support import fake_nodes as fake_nodes_support
from tests.support import platform as tp
from tests.support.postgres import free_port

PASSWORD = "correct horse battery"


class MovableClock:
    """Real time plus an offset tests can grow (token expiry, retention) without freezing time: rows created one
    after the other keep distinct, ordered timestamps, as they do in production."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


def make_platform(url: str, cfg: PlatformConfig, *, clock: MovableClock | None = None) -> Platform:
    """A migrated database with the pool synced, as ``airpool serve`` prepares it."""
    return tp.make(url, cfg, clock=clock or MovableClock())


@contextlib.contextmanager
def running_app(platform: Platform, *, with_ui: bool = False, port: int | None = None) -> Iterator[str]:
    """Serve ``create_app(platform)`` with uvicorn in a thread; yields the base URL. ``port``: one chosen before
    (when another server must know the URL first, as an identity provider knows its redirect URI)."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(platform, with_ui=with_ui), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"test server on port {port} did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def airpool_executable() -> str:
    return str(Path(sys.executable).parent / "airpool")


@dataclass
class Served:
    """A running ``airpool serve``: its URL, process, and everything it printed (in a file: a pipe nobody reads
    would fill up and block the server)."""

    base: str
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def serve_process(
    *,
    values: Path,
    database_url: str,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    commander: bool = False,
    fake_nodes: bool = True,
    more_values: Sequence[Path] = (),
) -> Iterator[Served]:
    """``airpool serve`` in its own process (no commander unless asked for). SIGTERM on exit.

    ``fake_nodes``: the values get the simulated-node overlay (``tests.support.fake_nodes``) after them; real-node
    tests pass False."""
    port = free_port()
    files = ["-f", str(values)]
    for extra in more_values:
        files += ["-f", str(extra)]
    if fake_nodes:
        files += ["-f", str(fake_nodes_support.overlay(Path(tempfile.mkdtemp(prefix="airpool-fake-nodes-"))))]
    environ = {**os.environ, "AIRPOOL_DATABASE_URL": database_url, **(env or {})}
    log = Path(tempfile.mkstemp(prefix=f"airpool-serve-{port}-", suffix=".log")[1])
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [
                airpool_executable(),
                "serve",
                *files,
                *("--port", str(port)),
                *(() if commander else ("--no-commander",)),
                *extra_args,
            ],
            env=environ,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    served = Served(base=f"http://127.0.0.1:{port}", proc=proc, log=log)
    try:
        wait_ready(served)
        if not commander:
            _pass_first_check(values, database_url)
        yield served
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.unlink(missing_ok=True)


def _pass_first_check(values: Path, database_url: str) -> None:
    """With no commander in the server, the test plays its first health check on the pool (see tp.pass_first_check)."""
    from airpool import config

    plat = platform.connect(config.load([values]), url=database_url)
    try:
        tp.pass_first_check(plat)
    finally:
        plat.close()


def wait_ready(served: Served, *, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served.proc.poll() is not None:
            raise RuntimeError(f"airpool serve exited with {served.proc.returncode}:\n{served.output()}")
        try:
            if httpx.get(f"{served.base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"airpool serve at {served.base} did not answer /healthz within {timeout}s:\n{served.output()}")


class GraphQL:
    """A GraphQL client like the astro CLI: POST /v1, raw token in ``authorization``."""

    def __init__(self, base: str, token: str | None = None) -> None:
        self.base = base
        self.token = token

    def as_(self, token: str | None) -> GraphQL:
        return GraphQL(self.base, token)

    def post(
        self, query: str, variables: Mapping[str, Any] | None = None, *, headers: Mapping[str, str] = {}
    ) -> dict[str, Any]:
        """The whole response body; asserts the HTTP 200 Houston always answers with."""
        sent = {"authorization": self.token} if self.token else {}
        response = httpx.post(
            f"{self.base}/v1",
            json={"query": query, "variables": dict(variables or {})},
            headers={**sent, **headers},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def data(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        body = self.post(query, variables)
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    def error(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The first error (and asserts there is one)."""
        body = self.post(query, variables)
        assert body.get("errors"), body
        first: dict[str, Any] = body["errors"][0]
        return first

    def login(self, username: str, password: str = PASSWORD) -> GraphQL:
        data = self.data(
            "mutation($u: String, $p: String!) { createToken(identity: $u, password: $p) { token { value } } }",
            {"u": username, "p": password},
        )
        return self.as_(data["createToken"]["token"]["value"])

    def signup(self, username: str = "admin", password: str = PASSWORD) -> GraphQL:
        data = self.data(
            "mutation($u: String!, $p: String!) { signup(username: $u, password: $p) { token { value } } }",
            {"u": username, "p": password},
        )
        return self.as_(data["signup"]["token"]["value"])
