"""Dex, a real OpenID Connect provider, run on loopback for the single sign-on tests.

``airpool dev build`` builds it from its Go module (tools/k8s/dex) into the cache; ``scripts/setup.sh`` runs that
build on a fresh machine. Dex runs with in-memory storage and two ways to log in:

- the password database (Dex's own log-in form) with one static user, ``ada@example.com``; Dex's static
  passwords carry no groups;
- Dex's ``mockCallback`` connector ("Log in with Example"), which logs in its fixed user Kilgore Trout
  (``kilgore@kilgore.trout``, verified e-mail) in the group ``authors``: Dex's own way to test group claims without
  an LDAP server.

Airpool is registered as the static client ``airpool`` with a client secret and exactly the redirect URIs the
test names.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from airpool.devcluster import binaries
from airpool.devcluster.processes import free_port

CLIENT_ID = "airpool"
CLIENT_SECRET = "dex-test-client-secret-0123456789"
USER_EMAIL = "ada@example.com"
USER_PASSWORD = "password"
#: bcrypt (cost 10) of "password", the form Dex's static passwords take; the password log-in test proves it.
USER_HASH = "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W"
#: The fixed identity of Dex's mockCallback connector.
MOCK_EMAIL = "kilgore@kilgore.trout"
MOCK_GROUPS = ("authors",)


@dataclass(frozen=True)
class Dex:
    issuer: str
    log: Path

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def executable() -> Path:
    path = binaries.DEX.binary("dex")
    assert path.is_file(), f"{path} is missing: run `airpool dev build` (scripts/setup.sh does)"
    return path


@contextlib.contextmanager
def running(redirect_uris: Sequence[str]) -> Iterator[Dex]:
    """Dex on a free loopback port, registered with ``redirect_uris``; stopped (and its log removed) on exit."""
    port = free_port()
    issuer = f"http://127.0.0.1:{port}/dex"
    workdir = Path(tempfile.mkdtemp(prefix="airpool-dex-"))
    config = {
        "issuer": issuer,
        "storage": {"type": "memory"},
        "web": {"http": f"127.0.0.1:{port}"},
        "logger": {"level": "info", "format": "text"},
        "oauth2": {"skipApprovalScreen": True, "responseTypes": ["code"]},
        "expiry": {"idTokens": "10m"},
        "staticClients": [
            {"id": CLIENT_ID, "secret": CLIENT_SECRET, "name": "airpool", "redirectURIs": list(redirect_uris)}
        ],
        "enablePasswordDB": True,
        "staticPasswords": [
            {
                "email": USER_EMAIL,
                "hash": USER_HASH,
                "username": "ada",
                "name": "Ada Lovelace",
                "emailVerified": True,
                "userID": "08a8684b-db88-4b73-90a9-3cd1661f5466",
            }
        ],
        "connectors": [{"type": "mockCallback", "id": "mock", "name": "Example"}],
    }
    config_path = workdir / "config.yaml"
    config_path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    log = workdir / "dex.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [str(executable()), "serve", str(config_path)], stdout=sink, stderr=subprocess.STDOUT, cwd=workdir
        )
    dex = Dex(issuer=issuer, log=log)
    try:
        _wait_ready(dex, proc)
        yield dex
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for path in workdir.iterdir():
            path.unlink()
        workdir.rmdir()


def _wait_ready(dex: Dex, proc: subprocess.Popen[bytes], *, timeout: float = 120) -> None:
    """Until Dex serves its discovery document (a loaded machine may take a while to start a 36 MB binary)."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"dex exited with {proc.returncode} before it was ready:\n{dex.output()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(dex.discovery_url, timeout=5).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"dex did not serve {dex.discovery_url} within {timeout:.0f} s:\n{dex.output()}")
        time.sleep(0.2)
