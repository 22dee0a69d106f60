"""A Go toolchain for ``airpool dev build``: the machine's when recent enough, else one fetched once into the cache.

Debian bookworm ships Go 1.19, too old for the modules in tools/k8s. The Go project publishes every release as
the module ``golang.org/toolchain`` on the module proxy (that is how ``GOTOOLCHAIN`` switching works), so one
HTTPS GET of that module's zip from the proxy the build uses anyway gives a complete toolchain, with no other
download site. Go 1.21 or newer is enough on the machine: it switches to the toolchain a go.mod asks for by itself.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

from airpool.devcluster import binaries, errors

PINNED = "go1.26.8"
MINIMUM = (1, 21)
ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def _cached_root() -> Path:
    return binaries.cache_root() / "go" / PINNED


def _recent_enough(go: str) -> bool:
    try:
        result = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, timeout=60)
    except OSError:
        return False
    parts = result.stdout.strip().removeprefix("go").split(".")
    try:
        return (int(parts[0]), int(parts[1])) >= MINIMUM
    except (ValueError, IndexError):
        return False


def find() -> str | None:
    """A usable ``go``: on PATH, in /usr/local/go, or fetched earlier into the cache."""
    for candidate in (shutil.which("go"), "/usr/local/go/bin/go", str(_cached_root() / "bin" / "go")):
        if candidate and Path(candidate).is_file() and _recent_enough(candidate):
            return candidate
    return None


def _proxy() -> str:
    for entry in os.environ.get("GOPROXY", "https://proxy.golang.org").replace("|", ",").split(","):
        if entry.startswith("http"):
            return entry.rstrip("/")
    return "https://proxy.golang.org"


def fetch(*, report: Callable[[str], None]) -> str:
    """Download ``golang.org/toolchain`` at PINNED from the module proxy and unpack it into the cache."""
    arch = ARCHES.get(platform.machine())
    if arch is None or platform.system() != "Linux":
        raise errors.DevClusterError(
            f"No Go toolchain found, and airpool fetches one only for Linux on amd64/arm64 "
            f"(this is {platform.system()} on {platform.machine()}): install Go {MINIMUM[0]}.{MINIMUM[1]} or newer."
        )
    version = f"v0.0.1-{PINNED}.linux-{arch}"
    url = f"{_proxy()}/golang.org/toolchain/@v/{version}.zip"
    report(f"go: no Go {MINIMUM[0]}.{MINIMUM[1]}+ on this machine, fetching {PINNED} from {url} ...")
    target = _cached_root()
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f"golang.org/toolchain@{version}/"
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        archive = Path(tmp) / "toolchain.zip"
        try:
            with urllib.request.urlopen(url, timeout=120) as response, archive.open("wb") as out:
                shutil.copyfileobj(response, out)
        except OSError as exc:
            raise errors.DevClusterError(
                f"No Go {MINIMUM[0]}.{MINIMUM[1]}+ on this machine, and fetching {PINNED} from {url} failed ({exc}). "
                "Install Go yourself (and put it on PATH), or set GOPROXY to a module proxy you can reach."
            ) from exc
        unpacked = Path(tmp) / "go"
        with zipfile.ZipFile(archive) as zipped:
            for member in zipped.infolist():
                if member.is_dir() or not member.filename.startswith(prefix):
                    continue
                path = unpacked / member.filename.removeprefix(prefix)
                path.parent.mkdir(parents=True, exist_ok=True)
                with zipped.open(member) as source, path.open("wb") as out:
                    shutil.copyfileobj(source, out)
                # Module zips carry no file modes: make the programs executable.
                if path.parent.name == "bin" or "/pkg/tool/" in member.filename:
                    path.chmod(0o755)
        shutil.rmtree(target, ignore_errors=True)
        unpacked.replace(target)
    go = str(target / "bin" / "go")
    report(f"go: {PINNED} unpacked into {target}")
    return go


def ensure(*, report: Callable[[str], None]) -> str:
    return find() or fetch(report=report)
