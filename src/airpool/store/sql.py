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
    for row in rows:
        stmt = insert(table).values(**row).on_conflict_do_nothing().returning(key)
        total += len(session.execute(stmt).all())
    return total


def rowcount(result: sa.Result[Any]) -> int:
    """Rows matched by an UPDATE/DELETE: the compare-and-set check."""
    return int(getattr(result, "rowcount", 0))
