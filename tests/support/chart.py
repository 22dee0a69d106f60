"""airpool's Helm chart and the helm that ``airpool dev build`` builds, for the chart's tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

from airpool.devcluster import binaries

CHART = Path(__file__).parents[2] / "charts" / "airpool"


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    executable = binaries.HELM.binary("helm")
    assert executable.is_file(), f"{executable} is missing: run `airpool dev build`"
    # The process limit is above the tests' own `helm ... --wait --timeout 15m`.
    return subprocess.run([str(executable), *args], capture_output=True, text=True, timeout=1200)
