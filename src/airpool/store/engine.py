"""Connecting to the database: URL resolution, SQLite pragmas, and write/read transactions.

SQLite serialises writers. A deferred transaction that reads and then writes can fail with "database is locked"
*without* waiting for busy_timeout (the read lock cannot be upgraded), so write transactions start with
``BEGIN IMMEDIATE`` and wait their turn instead; reads use a plain ``BEGIN`` and run beside a writer thanks to WAL.
Inside one process, SQLite writers also queue on a ``threading.Lock`` first: SQLite's own busy handler sleeps
in growing steps, so under contention a waiter can oversleep by hundreds of milliseconds while the lock sits
free; a Python lock hands over at once (it measured ~10x better p99 at 16 threads, bench/services_create.py).
Several processes on one SQLite file still work, through busy_timeout.
PostgreSQL runs at READ COMMITTED: the services' compare-and-set UPDATEs re-check their WHERE clause after a
concurrent commit, which is what makes a claim atomic there. Its reads run in autocommit (each statement sees the
latest commits, exactly as at READ COMMITTED inside a transaction, without the BEGIN and COMMIT round trips).

Nothing waits without bound, so every request ends quickly even when the database hangs (a stopped PostgreSQL
server still accepts TCP connections and data, so the kernel never reports an error):

- PostgreSQL: ``connect_timeout`` (``CONNECT_TIMEOUT_S``) for new connections, the server's ``statement_timeout``
  (``STATEMENT_TIMEOUT_S``) for slow statements on a live server, and a client-side deadline for every
  transaction (``TRANSACTION_TIMEOUT_S``): a watchdog thread shuts the socket of a transaction that passes it, so
  the blocked driver call returns at once and the transaction fails with ``DatabaseUnavailable`` ("did not answer
  within ..."). The server's ``idle_in_transaction_session_timeout`` (``IDLE_IN_TRANSACTION_TIMEOUT_S``) is the
  last line when the client itself stops (a frozen or partitioned process whose watchdog never runs): the server
  ends that session and frees its row locks, so a namespace claim can never stay locked behind a dead client.
  Migrations (``timeouts=False``) have none of these.
- both: a free pooled connection is waited for at most ``POOL_TIMEOUT_S``;
- SQLite: ``busy_timeout`` and the in-process writer lock are bounded by ``BUSY_TIMEOUT_MS``.

Text holding U+0000 is refused before it reaches either database (``InvalidInput`` naming the column): PostgreSQL
cannot store it and SQLite would, and the two must give the same answer. The API and the UI refuse it earlier with
the argument's or form field's name; this is the last line for every other path.

``Database`` is a plain object passed to whoever needs it (no module-level singleton), so tests can open several
databases side by side.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from airpool.domain.errors import AirpoolError, InvalidInput

ENV_URL = "AIRPOOL_DATABASE_URL"
SQLITE_FILE = "airpool.db"
BUSY_TIMEOUT_MS = 10_000
CONNECT_TIMEOUT_S = 5
STATEMENT_TIMEOUT_S = 10
TRANSACTION_TIMEOUT_S = 15
IDLE_IN_TRANSACTION_TIMEOUT_S = 30  # above TRANSACTION_TIMEOUT_S: the client's own deadline acts first
POOL_TIMEOUT_S = 10
_WRITE = "airpool_write"
_WAKE = "airpool_wake_workers"


def wake_after_commit(session: Session) -> None:
    """Commander work was queued in ``session``'s transaction: wake this process's workers once it commits."""
    session.info[_WAKE] = True


class DatabaseUnavailable(AirpoolError):
    code = "DATABASE_UNAVAILABLE"


class _Watchdog:
    """Shuts the socket of a PostgreSQL connection whose transaction passed its deadline (see module docstring).

    One daemon thread per process, started on first use; ``watch`` and ``release`` are a dict update each. The
    thread looks at least every ``LOOK_EVERY_S``, so ``watch`` wakes it only for a deadline before its next look:
    waking it for every transaction cost two thread switches per request (8% of a create's CPU)."""

    LOOK_EVERY_S = 1.0

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._watched: dict[int, tuple[float, int]] = {}  # token -> (deadline, socket fd)
        self._fired: set[int] = set()
        self._thread: threading.Thread | None = None
        self._next = 0
        self._next_look = 0.0  # when the thread looks next (monotonic seconds)

    def watch(self, fd: int, seconds: float) -> int:
        with self._lock:
            self._next += 1
            token = self._next
            at = time.monotonic() + seconds
            self._watched[token] = (at, fd)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="airpool-db-watchdog", daemon=True)
                self._thread.start()
            elif at < self._next_look:
                self._lock.notify()
            return token

    def release(self, token: int) -> bool:
        """Stop watching; True when the deadline had passed and the socket was shut."""
        with self._lock:
            self._watched.pop(token, None)
            if token in self._fired:
                self._fired.discard(token)
                return True
            return False

    def _run(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                for token, (deadline, fd) in list(self._watched.items()):
                    if deadline <= now:
                        del self._watched[token]
                        self._fired.add(token)
                        _shut(fd)
                soonest = min((d for d, _ in self._watched.values()), default=now + self.LOOK_EVERY_S)
                wait = max(0.05, min(soonest - now, self.LOOK_EVERY_S))
                self._next_look = now + wait
                self._lock.wait(timeout=wait)


def _shut(fd: int) -> None:
    """Shut down (not close: the driver still owns the descriptor) the socket behind ``fd``."""
    with contextlib.suppress(OSError):
        dup = socket.socket(fileno=os.dup(fd))
        try:
            dup.shutdown(socket.SHUT_RDWR)
        finally:
            dup.close()


_watchdog = _Watchdog()


@contextlib.contextmanager
def deadline(conn: sa.Connection, url: str, seconds: float = TRANSACTION_TIMEOUT_S) -> Iterator[None]:
    """Bound the PostgreSQL work done on ``conn`` inside the block to ``seconds`` (a no-op on SQLite): past it the
    connection's socket is shut and the block fails with ``DatabaseUnavailable``."""
    if conn.dialect.name != "postgresql":
        yield
        return
    raw: Any = conn.connection.dbapi_connection
    token = _watchdog.watch(raw.fileno(), seconds)
    fired = False
    try:
        yield
    except sa.exc.DBAPIError as exc:
        fired = _watchdog.release(token)
        if fired:
            raise DatabaseUnavailable(
                f"the database {redact(url)} did not answer within {seconds:.0f} s (it may be overloaded or "
                "hung); the request was abandoned, nothing was changed"
            ) from exc
        raise
    finally:
        if not fired:
            _watchdog.release(token)


def pool_exhausted(url: str) -> DatabaseUnavailable:
    """No pooled connection became free in time: every one is busy, or the database hangs."""
    return DatabaseUnavailable(
        f"no connection to the database {redact(url)} became free within {POOL_TIMEOUT_S} s "
        "(every pooled connection is busy or the database hangs); try again"
    )


def unavailable(url: str, exc: BaseException) -> DatabaseUnavailable:
    """A short, password-free message for a database that cannot be reached (no driver traceback)."""
    orig = getattr(exc, "orig", None) or exc
    reason = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    return DatabaseUnavailable(f"cannot reach the database {redact(url)}: {reason}")


def resolve_url(configured: str | None, data_dir: str | os.PathLike[str]) -> str:
    """``AIRPOOL_DATABASE_URL`` wins over the configured URL, which wins over the SQLite file in ``data_dir``."""
    url = os.environ.get(ENV_URL) or configured
    if url:
        return _with_driver(url)
    path = Path(data_dir).expanduser().resolve() / SQLITE_FILE
    return f"sqlite:///{path}"


def _with_driver(url: str) -> str:
    """Astronomer's connection strings (``postgres://`` in the astronomer-bootstrap Secret) name no driver:
    SQLAlchemy would pick psycopg2, which airpool does not ship, so they get psycopg (3)."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg://{rest}"
    return url


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return sa.make_url(url).render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see module docstring)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


_BIND_SUFFIX = re.compile(r"_\d+$")


def _refuse_nul(
    _conn: sa.Connection, _cursor: Any, _statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    """``before_cursor_execute``: no text parameter may hold U+0000 (see module docstring)."""
    rows = parameters if executemany else (parameters,)
    flat = isinstance(parameters, Mapping) or (parameters and not isinstance(parameters[0], Mapping | list | tuple))
    if executemany and flat:
        rows = (parameters,)  # one batch of an "insertmanyvalues" INSERT: its parameters come as one row
    for row in rows or ():
        if isinstance(row, Mapping):
            items: Any = row.items()
        else:
            compiled = getattr(context, "compiled", None)
            names = list(getattr(compiled, "positiontup", None) or ())
            items = ((names[i] if i < len(names) else f"parameter {i + 1}", v) for i, v in enumerate(row or ()))
        for name, value in items:
            if isinstance(value, str) and "\x00" in value:
                field = _BIND_SUFFIX.sub("", str(name))
                raise InvalidInput(f"{field} must not contain the character U+0000 (NUL); remove it")


def _sqlite_begin(conn: sa.Connection) -> None:
    immediate = conn.get_execution_options().get(_WRITE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def make_engine(
    url: str, *, pool_size: int = 20, max_overflow: int | None = None, timeouts: bool = True, autocommit: bool = False
) -> sa.Engine:
    """``timeouts=False`` (migrations): no server-side statement timeout. ``autocommit`` (PostgreSQL): connections
    born in autocommit, for reads and one-statement writes. ``max_overflow``: connections beyond ``pool_size`` opened
    under bursts (default four times ``pool_size``)."""
    overflow = pool_size * 4 if max_overflow is None else max_overflow
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if (path := sqlite_file(url)) is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
            poolclass=sa.pool.QueuePool,
            pool_size=pool_size,
            max_overflow=overflow,
            pool_timeout=POOL_TIMEOUT_S,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        event.listen(engine, "before_cursor_execute", _refuse_nul)
        return engine
    # No pre-ping (a round trip per transaction); recycle instead, and a dead connection fails one request.
    connect_args: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_S}
    if timeouts:
        connect_args["options"] = (
            f"-c statement_timeout={STATEMENT_TIMEOUT_S * 1000}"
            f" -c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_TIMEOUT_S * 1000}"
        )
    engine = sa.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=overflow,
        pool_recycle=1800,
        pool_timeout=POOL_TIMEOUT_S,
        connect_args=connect_args,
        **({"isolation_level": "AUTOCOMMIT"} if autocommit else {}),
    )
    event.listen(engine, "before_cursor_execute", _refuse_nul)
    return engine


class Database:
    """An engine and its two kinds of transactions. Close it with ``dispose()``.

    On PostgreSQL, reads and one-statement writes get a pool of their own whose connections are born in
    autocommit: switching a pooled connection into autocommit and back on every checkout cost about 60
    microseconds of CPU per statement, on every API request (its token check). Each pool keeps up to
    ``pool_size`` connections and opens up to three times as many more under bursts, so a process holds at most
    ``8 * pool_size`` connections (160 by default: each pool serves up to 80 threads, the API's 40 and anyio's
    40), idle ones at most ``2 * pool_size``."""

    def __init__(self, url: str, *, pool_size: int = 20) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size, max_overflow=pool_size * 3)
        self.dialect = self.engine.dialect.name
        self._write = sessionmaker(self.engine.execution_options(**{_WRITE: True}), expire_on_commit=False)
        # PostgreSQL reads run in autocommit: at READ COMMITTED every statement takes its own snapshot whether or
        # not a transaction is open, so BEGIN and COMMIT bought nothing but two round trips per read.
        self._autocommit = (
            make_engine(url, pool_size=pool_size, max_overflow=pool_size * 3, autocommit=True)
            if self.dialect == "postgresql"
            else None
        )
        self._reads = self._autocommit or self.engine
        self._read = sessionmaker(self._reads, expire_on_commit=False)
        self._writer_lock = threading.Lock() if self.dialect == "sqlite" else None
        #: Set once a transaction that queued commander work committed (``wake_after_commit``), and by one-statement
        #: writes that queue it: a worker in this process waits on it between polls of the queue (``wait_for_work``)
        #: instead of sleeping out its poll interval. Workers in other processes still poll.
        self.work_queued = threading.Event()
        event.listen(self._write, "after_commit", self._after_commit)

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(_WAKE, False):
            self.work_queued.set()

    def wait_for_work(self, timeout: float) -> None:
        """Return when work was queued in this process since the last return, or after ``timeout`` seconds."""
        if self.work_queued.wait(timeout):
            self.work_queued.clear()

    @property
    def engines(self) -> tuple[sa.Engine, ...]:
        """Every engine of this database (two on PostgreSQL: transactions, autocommit), e.g. for event listeners."""
        return (self.engine,) if self._autocommit is None else (self.engine, self._autocommit)

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction: committed when the block ends normally, rolled back on any exception."""
        if self._writer_lock is None:
            with self._transaction(self._write) as session:
                yield session
            return
        if not self._writer_lock.acquire(timeout=BUSY_TIMEOUT_MS / 1000):
            raise DatabaseUnavailable(
                f"the database {redact(self.url)} is busy: no write could start within {BUSY_TIMEOUT_MS // 1000} s; "
                "try again"
            )
        try:
            with self._transaction(self._write) as session:
                yield session
        finally:
            self._writer_lock.release()

    @contextlib.contextmanager
    def statement(self) -> Iterator[sa.Connection]:
        """PostgreSQL only: a connection in autocommit for ONE self-contained write statement (data-modifying CTEs
        are atomic on their own), so a write is one round trip instead of BEGIN, the statement and COMMIT. Bounded
        and mapped to ``DatabaseUnavailable`` like ``write``."""
        if self._autocommit is None:
            raise RuntimeError("Database.statement() is for PostgreSQL; SQLite writes go through write()")
        with self._connection(self._autocommit) as conn:
            yield conn

    @contextlib.contextmanager
    def query(self) -> Iterator[sa.Connection]:
        """A bare connection for read statements built once, without an ORM ``Session`` (its bookkeeping was a tenth
        of an API request's CPU): on PostgreSQL in autocommit (one round trip per statement, each its own snapshot,
        as ``read``), on SQLite in a deferred transaction rolled back when the block ends. Bounded and mapped to
        ``DatabaseUnavailable`` like ``read``."""
        with self._connection(self._reads) as conn:
            yield conn

    @contextlib.contextmanager
    def _connection(self, engine: sa.Engine) -> Iterator[sa.Connection]:
        try:
            conn = engine.connect()
        except sa.exc.DBAPIError as exc:
            raise unavailable(self.url, exc) from None
        except sa.exc.TimeoutError:
            raise pool_exhausted(self.url) from None
        with conn:
            try:
                with deadline(conn, self.url):
                    yield conn
            except sa.exc.DBAPIError as exc:
                if exc.connection_invalidated:
                    raise unavailable(self.url, exc) from None
                raise

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        with self._transaction(self._read) as session:
            yield session

    @contextlib.contextmanager
    def _transaction(self, maker: sessionmaker[Session]) -> Iterator[Session]:
        """A dead database (no connection, or the connection dropped) becomes ``DatabaseUnavailable``; every other
        database error propagates unchanged. Leaving the block without commit rolls back (``Session.close``)."""
        with maker() as session:
            try:
                conn = session.connection()  # begins: the checkout (and SQLite's BEGIN IMMEDIATE wait) happens here
            except sa.exc.DBAPIError as exc:
                raise unavailable(self.url, exc) from None
            except sa.exc.TimeoutError:
                raise pool_exhausted(self.url) from None
            try:
                with deadline(conn, self.url):
                    yield session
                    session.commit()
            except sa.exc.DBAPIError as exc:
                if exc.connection_invalidated:
                    raise unavailable(self.url, exc) from None
                raise

    def dispose(self) -> None:
        self.engine.dispose()
        if self._autocommit is not None:
            self._autocommit.dispose()
