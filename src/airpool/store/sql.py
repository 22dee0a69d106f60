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
    # Multi-row statements (one per chunk of rows with the same columns): 10,000 pool names are 20 statements.
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    for columns, group in groups.items():
        size = max(1, _MAX_PARAMETERS // len(columns))
        for i in range(0, len(group), size):
            stmt = insert(table).values(group[i : i + size]).on_conflict_do_nothing().returning(key)
            total += len(session.execute(stmt).all())
    return total


#: Bound parameters per statement: below SQLite's default limit (32,766) and PostgreSQL's (65,535).
_MAX_PARAMETERS = 5000


def rowcount(result: sa.Result[Any]) -> int:
    """Rows matched by an UPDATE/DELETE: the compare-and-set check."""
    return int(getattr(result, "rowcount", 0))
