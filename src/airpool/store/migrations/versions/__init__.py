"""Migration scripts, oldest first. Each one must run on SQLite and PostgreSQL (tests/integration/test_store*)."""
