"""A throwaway PostgreSQL 15 server for tests: Debian's binaries, a free port, a temporary data directory.

PostgreSQL refuses to run as root, so as root the server runs as the unprivileged ``airpool-pg`` user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from airpool.devcluster.processes import free_port

PG_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")
PG_USER = "airpool-pg"


def pg_bin_dir() -> Path:
    for candidate in PG_BIN_CANDIDATES:
        if Path(candidate, "postgres").exists():
            return Path(candidate)
    raise RuntimeError(
        "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin; "
        "install them with: apt-get install -y postgresql"
    )


def _run_as() -> list[str]:
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER], check=True)
    return ["runuser", "-u", PG_USER, "--"]


@contextlib.contextmanager
def postgres_server(*, listen: tuple[str, ...] = ("127.0.0.1",), clients: str | None = None) -> Iterator[str]:
    """Start a server and yield the SQLAlchemy URL of its ``postgres`` database; remove everything afterwards.

    ``listen``: addresses to listen on (the first is the URL's host); ``clients``: a CIDR whose connections are
    accepted with a password (scram-sha-256), e.g. the real node's pod range for airpool's chart in a pod."""
    bindir = pg_bin_dir()
    prefix = _run_as()
    root = Path(tempfile.mkdtemp(prefix="airpool-pg-"))
    data = root / "data"
    if prefix:
        shutil.chown(root, user=PG_USER)
    port = free_port()
    try:
        subprocess.run(
            [
                *prefix,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
        )
        if clients is not None:
            with (data / "pg_hba.conf").open("a") as hba:
                hba.write(f"host all all {clients} scram-sha-256\n")
        subprocess.run(
            [
                *prefix,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(root / "log"),
                "-w",
                "-t",
                "60",
                "-o",
                f"-p {port} -k {root} -c listen_addresses={','.join(listen)} -c fsync=off -c synchronous_commit=off "
                "-c full_page_writes=off -c max_connections=300",
                "start",
            ],
            check=True,
            capture_output=True,
        )
        yield f"postgresql+psycopg://postgres@{listen[0]}:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
