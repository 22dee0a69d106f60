"""Is the database schema the one this airpool needs, and bringing it there (``airpool db upgrade|current``).

The server refuses to start on a schema that is behind or ahead (``require_current``) rather than half-working:
a missing column surfaces much later, in the middle of somebody's request.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from airpool.domain.errors import AirpoolError
from airpool.store import engine as store_engine

MIGRATIONS = Path(__file__).resolve().parent.parent / "store" / "migrations"
UPGRADE_COMMAND = "airpool db upgrade"


class SchemaMismatch(AirpoolError):
    code = "SCHEMA_MISMATCH"


DatabaseUnavailable = store_engine.DatabaseUnavailable
unavailable = store_engine.unavailable


class SchemaStatus(StrEnum):
    CURRENT = "current"
    BEHIND = "behind"  # older revision, or an empty database
    AHEAD = "ahead"  # a revision this airpool does not know: written by a newer airpool


@dataclass(frozen=True)
class SchemaState:
    url: str  # password redacted
    current: str | None
    head: str
    status: SchemaStatus

    @property
    def message(self) -> str:
        where = f"database {self.url}"
        if self.status is SchemaStatus.CURRENT:
            return f"{where} is at the current schema revision {self.head}"
        if self.status is SchemaStatus.BEHIND:
            at = f"revision {self.current}" if self.current else "no schema yet"
            return f"{where} has {at} but this airpool needs {self.head}: run `{UPGRADE_COMMAND}`"
        return (
            f"{where} has schema revision {self.current}, which this airpool (needs {self.head}) does not know: "
            "it was written by a newer airpool; upgrade airpool or point AIRPOOL_DATABASE_URL at another database"
        )


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head() -> str:
    rev = ScriptDirectory.from_config(_config()).get_current_head()
    assert rev is not None
    return rev


def _current(conn: sa.Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def check(url: str, *, database: store_engine.Database | None = None) -> SchemaState:
    """Where the schema of ``url`` stands. Pass the running ``database`` (``platform.db``) to reuse its pool,
    e.g. from a readiness probe; otherwise a short-lived engine is opened."""
    scripts = ScriptDirectory.from_config(_config())
    missing = store_engine.sqlite_file(url)
    try:
        if database is None and missing is not None and not missing.exists():
            current = None  # looking must not create the file (or its directory)
        elif database is not None:
            with database.engine.connect() as conn, store_engine.deadline(conn, url):
                current = _current(conn)
        else:
            eng = store_engine.make_engine(url, pool_size=1)
            try:
                with eng.connect() as conn, store_engine.deadline(conn, url):
                    current = _current(conn)
            finally:
                eng.dispose()
    except sa.exc.TimeoutError:
        raise store_engine.DatabaseUnavailable(f"no connection to the database {store_engine.redact(url)}") from None
    except sa.exc.DBAPIError as exc:
        raise unavailable(url, exc) from None
    want = head()
    if current == want:
        status = SchemaStatus.CURRENT
    elif current is None:
        status = SchemaStatus.BEHIND
    else:
        known = {s.revision for s in scripts.walk_revisions()}
        status = SchemaStatus.BEHIND if current in known else SchemaStatus.AHEAD
    return SchemaState(url=store_engine.redact(url), current=current, head=want, status=status)


def require_current(url: str) -> SchemaState:
    """Raise ``SchemaMismatch`` (saying which command to run) unless the schema is exactly current."""
    state = check(url)
    if state.status is not SchemaStatus.CURRENT:
        raise SchemaMismatch(state.message)
    return state


def upgrade(url: str, *, revision: str = "head") -> SchemaState:
    """Migrate to ``revision`` (default: the newest). Safe to run again; refuses a schema from a newer airpool."""
    state = check(url)
    if state.status is SchemaStatus.AHEAD:
        raise SchemaMismatch(state.message)
    eng = store_engine.make_engine(url, pool_size=1, timeouts=False)
    try:
        with eng.begin() as conn:
            cfg = _config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        eng.dispose()
    return check(url)


def database_url(configured: str | None, data_dir: str) -> str:
    """The URL the platform uses: ``AIRPOOL_DATABASE_URL`` > configured URL > SQLite file in the data dir."""
    return store_engine.resolve_url(configured, data_dir)
