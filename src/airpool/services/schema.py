"""Is the database schema the one this airpool needs, and bringing it there (``airpool db upgrade|current``).

The server refuses to start on a schema that is behind or ahead (``require_current``) rather than half-working:
a missing column surfaces much later, in the middle of somebody's request.

Where the schema stands is read without alembic: the revision in ``alembic_version``, and the chain of revisions
from the migration files' own ``revision``/``down_revision`` lines (read once per process). Importing alembic
costs a tenth of a second of CPU (it brings mako, pygments and every dialect's DDL), paid by every ``airpool
serve`` start and, before, by every ``/readyz``'s two readings of the migration scripts; only ``upgrade`` needs
it. ``tests/unit/test_schema_revisions.py`` holds this reading equal to alembic's.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from airpool.domain.errors import AirpoolError
from airpool.store import engine as store_engine

if TYPE_CHECKING:
    from alembic.config import Config

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
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


_REVISION = re.compile(r"^revision\s*=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN = re.compile(r"^down_revision\s*=\s*(None|['\"]([^'\"]+)['\"])", re.MULTILINE)


@functools.cache
def revisions() -> dict[str, str | None]:
    """Every migration's revision and the one it revises (None for the first), from the files in ``versions``."""
    chain: dict[str, str | None] = {}
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(text), _DOWN.search(text)
        if revision is None:
            continue  # __init__.py
        if down is None:
            raise RuntimeError(f"migration {path.name} names no down_revision")
        chain[revision.group(1)] = down.group(2)
    return chain


def head() -> str:
    chain = revisions()
    heads = set(chain) - set(chain.values())
    if len(heads) != 1:
        raise RuntimeError(f"the migrations must form one chain with one head, found heads {sorted(heads)}")
    return heads.pop()


def _current(conn: sa.Connection) -> str | None:
    """The revision recorded in ``alembic_version`` (None without the table or a row), as alembic reads it."""
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return None
    rows = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(rows) > 1:
        raise RuntimeError(f"{VERSION_TABLE} holds more than one revision: {sorted(rows)}")
    return str(rows[0]) if rows else None


VERSION_TABLE = "alembic_version"


def check(url: str, *, database: store_engine.Database | None = None) -> SchemaState:
    """Where the schema of ``url`` stands. Pass the running ``database`` (``platform.db``) to reuse its pool,
    e.g. from a readiness probe; otherwise a short-lived engine is opened."""
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
        status = SchemaStatus.BEHIND if current in revisions() else SchemaStatus.AHEAD
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
    from alembic import command

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
