"""Alembic environment: always run online, on the connection ``airpool.services.schema`` hands over."""

from __future__ import annotations

from alembic import context

from airpool.store import models

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=models.Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
