"""The few statements that differ between SQLite and PostgreSQL, written once."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from airpool.store.models import Base


def insert_ignore(session: Session, model: type[Base], rows: list[dict[str, Any]]) -> int:
    """``INSERT ... ON CONFLICT DO NOTHING``; returns how many rows were really inserted.

    Lets several server replicas create the same rows (pool names, the signing key) at the same moment.
    """
    if not rows:
        return 0
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    table = model.__table__
    assert isinstance(table, sa.Table)
    key = next(iter(table.primary_key.columns))
    total = 0
    # One compiled statement per set of columns, its rows sent as an executemany: SQLAlchemy batches them into
    # multi-row INSERTs itself ("insertmanyvalues"), without compiling a 10,000-row VALUES clause in Python.
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    for group in groups.values():
        stmt = insert(table).on_conflict_do_nothing().returning(key)
        total += len(session.execute(stmt, group).all())
    return total


#: Bound parameters per statement: below SQLite's default limit (32,766) and PostgreSQL's (65,535).
_MAX_PARAMETERS = 5000


def rowcount(result: sa.Result[Any]) -> int:
    """Rows matched by an UPDATE/DELETE: the compare-and-set check."""
    return int(getattr(result, "rowcount", 0))
