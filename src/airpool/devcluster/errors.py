"""The one error the dev cluster raises for anything a developer can fix (missing binaries, a busy port, ...)."""

from __future__ import annotations

from airpool.domain.errors import AirpoolError


class DevClusterError(AirpoolError):
    """Carries a one-paragraph explanation that the CLI prints as is, without a traceback."""

    code = "DEVCLUSTER"
