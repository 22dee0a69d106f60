"""``Platform``: what every service function needs — the configuration, the database and a clock.

A plain object built once by whoever hosts the services (the server, a CLI command, a test) and passed as the
first argument; no global state. The clock is a parameter so tests can move time forward (retention, leases,
token expiry) against the real database instead of sleeping.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airpool.config.model import PlatformConfig
from airpool.domain.errors import ConfigError
from airpool.services import schema
from airpool.store import engine
from airpool.store.types import utcnow

#: Lifetime of a signed session token from ``auth.login`` / ``auth.signup``; ``AIRPOOL_SESSION_TTL_SECONDS``
#: overrides it (short values let end-to-end tests see a real expiry).
SESSION_TTL_SECONDS = 24 * 3600
ENV_SESSION_TTL = "AIRPOOL_SESSION_TTL_SECONDS"


def session_ttl(environ: Mapping[str, str] | None = None) -> int:
    raw = (os.environ if environ is None else environ).get(ENV_SESSION_TTL, "").strip()
    if not raw:
        return SESSION_TTL_SECONDS
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{ENV_SESSION_TTL}={raw!r} must be a whole number of seconds, at least 1")
    return int(raw)


@dataclass
class Platform:
    config: PlatformConfig
    db: engine.Database
    clock: Callable[[], datetime] = utcnow
    session_ttl_seconds: int = SESSION_TTL_SECONDS
    #: Per-process memo of values read once from the database (e.g. the token signing key).
    cache: dict[str, Any] = field(default_factory=dict)

    def now(self) -> datetime:
        return self.clock()

    def close(self) -> None:
        self.db.dispose()


def connect(
    config: PlatformConfig,
    *,
    url: str | None = None,
    clock: Callable[[], datetime] | None = None,
    require_schema: bool = True,
    pool_size: int = 20,
) -> Platform:
    """Open the platform's database. ``require_schema`` raises ``schema.SchemaMismatch`` (naming the command to
    run) when the schema is behind or ahead; the server uses it to refuse to start."""
    url = url or schema.database_url(config.database_url, config.data_dir)
    if require_schema:
        schema.require_current(url)
    ttl = session_ttl()
    return Platform(
        config=config,
        db=engine.Database(url, pool_size=pool_size),
        clock=clock or utcnow,
        session_ttl_seconds=ttl,
    )
