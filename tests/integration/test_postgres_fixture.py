"""The throwaway PostgreSQL server really runs and is really removed."""

from __future__ import annotations

import sqlalchemy as sa


def test_database_url_reaches_a_real_engine(database_url: str) -> None:
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE probe (n INTEGER)"))
        conn.execute(sa.text("INSERT INTO probe VALUES (41)"))
        assert conn.execute(sa.text("SELECT n + 1 FROM probe")).scalar_one() == 42
        dialect = conn.dialect.name
    engine.dispose()
    assert dialect in {"sqlite", "postgresql"}
    assert database_url.startswith("sqlite" if dialect == "sqlite" else "postgresql")
