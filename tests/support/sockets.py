"""Who holds which TCP connections, read with ``ss`` (iproute2, installed by scripts/setup.sh)."""

from __future__ import annotations

import re
import subprocess


def connections_per_process(port: int) -> dict[int, int]:
    """Established connections whose local port is ``port``, counted per process id that holds them: with
    ``serve --workers N``, how the connections are spread over the server processes."""
    out = subprocess.run(
        ["ss", "-tnpH", "state", "established", f"( sport = :{port} )"], capture_output=True, text=True, check=True
    ).stdout
    counts: dict[int, int] = {}
    for pid in re.findall(r"pid=(\d+)", out):
        counts[int(pid)] = counts.get(int(pid), 0) + 1
    return counts
