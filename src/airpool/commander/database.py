"""One PostgreSQL database and role per Deployment on the server airpool was given an admin URL for.

Names derive from the release name (unique on the platform), so a retried job finds what a crashed one created
and converges: the role's password is (re)set to the value stored in the Deployment's Secret. Passwords are
sent as SQL literals inside DDL (PostgreSQL does not accept parameters there) and never logged.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from airpool.commander import errors
from airpool.manifests.airflow.spec import ExternalDatabase

log = logging.getLogger(__name__)


def external_database(admin_url: str, release_name: str) -> ExternalDatabase:
    """Where a Deployment's database lives on the admin URL's server (pure: no connection)."""
    parts = urlsplit(admin_url.replace("postgresql+psycopg://", "postgresql://", 1))
    ident = "airflow_" + release_name.replace("-", "_")
    return ExternalDatabase(host=parts.hostname or "localhost", port=parts.port or 5432, database=ident, user=ident)


def admin_connection(admin_url: str) -> psycopg.Connection[tuple[object, ...]]:
    url = admin_url.replace("postgresql+psycopg://", "postgresql://", 1)
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise errors.TemporaryFailure(f"cannot reach the Airflow database server: {exc}") from exc


def ensure(admin_url: str, db: ExternalDatabase, *, password: str) -> None:
    with admin_connection(admin_url) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (db.user,)).fetchone()
        verb = sql.SQL("ALTER ROLE" if exists else "CREATE ROLE")
        conn.execute(
            sql.SQL("{} {} WITH LOGIN PASSWORD {}").format(verb, sql.Identifier(db.user), sql.Literal(password))
        )
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db.database,)).fetchone() is None:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(db.database), sql.Identifier(db.user))
            )
    log.info("database ready", extra={"kv": {"database": db.database, "role": db.user}})


def drop(admin_url: str, db: ExternalDatabase) -> None:
    """Final removal: the database (closing its sessions) and then its role; absent ones are fine."""
    with admin_connection(admin_url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db.database)))
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(db.user)))
    log.info("database dropped", extra={"kv": {"database": db.database, "role": db.user}})


def exists(admin_url: str, db: ExternalDatabase) -> bool:
    with admin_connection(admin_url) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db.database,)).fetchone()
    return row is not None
