"""The database schema and how to connect to it; nothing here knows a business rule.

Layout:

- ``models``: SQLAlchemy 2.x tables (users, workspaces, role bindings, API tokens, Deployments, pool namespaces,
  commander jobs, audit events, platform secrets). Times are timezone-aware UTC everywhere.
- ``engine``: ``Database`` (an engine plus write/read transactions), URL resolution (``AIRPOOL_DATABASE_URL`` >
  configured URL > SQLite file in the data directory) and the SQLite pragmas (WAL, busy_timeout, foreign keys).
- ``migrations``: the one Alembic history, shipped inside the package so ``airpool db upgrade`` works from a wheel.

Only ``airpool.services`` imports this package (an import-linter contract keeps api/ui/cli out).
"""
