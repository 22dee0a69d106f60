"""The one Alembic history on SQLite and PostgreSQL: upgrade, status checks, round trip, and no model drift."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from typer.testing import CliRunner

from airpool.cli.main import app
from airpool.services import schema
from airpool.store import engine, models


def test_empty_database_is_behind_and_says_which_command(database_url: str) -> None:
    state = schema.check(database_url)
    assert state.status is schema.SchemaStatus.BEHIND
    assert state.current is None
    with pytest.raises(schema.SchemaMismatch, match=r"no schema yet .* run `airpool db upgrade`"):
        schema.require_current(database_url)


def test_upgrade_is_current_and_idempotent(database_url: str) -> None:
    assert schema.upgrade(database_url).status is schema.SchemaStatus.CURRENT
    assert schema.upgrade(database_url).status is schema.SchemaStatus.CURRENT
    assert schema.require_current(database_url).current == schema.head()


def test_migrations_match_the_models(database_url: str) -> None:
    """Autogenerate finds nothing to do: every model change came with a migration."""
    schema.upgrade(database_url)
    eng = engine.make_engine(database_url)
    with eng.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), models.Base.metadata)
    eng.dispose()
    assert diff == []


def test_unknown_revision_is_ahead_and_upgrade_refuses(database_url: str) -> None:
    schema.upgrade(database_url)
    eng = engine.make_engine(database_url)
    with eng.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'f00dfeed'"))
    eng.dispose()
    state = schema.check(database_url)
    assert state.status is schema.SchemaStatus.AHEAD
    assert "written by a newer airpool" in state.message
    with pytest.raises(schema.SchemaMismatch, match="newer airpool"):
        schema.upgrade(database_url)


def test_downgrade_to_base_and_back(database_url: str) -> None:
    from alembic import command

    schema.upgrade(database_url)
    eng = engine.make_engine(database_url)
    with eng.begin() as conn:
        cfg = schema._config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    with eng.connect() as conn:
        assert set(sa.inspect(conn).get_table_names()) <= {"alembic_version"}
    eng.dispose()
    assert schema.upgrade(database_url).status is schema.SchemaStatus.CURRENT


def test_times_come_back_aware_utc(database_url: str) -> None:
    schema.upgrade(database_url)
    db = engine.Database(database_url)
    plus_two = datetime(2026, 1, 2, 5, 0, tzinfo=timezone(timedelta(hours=2)))
    with db.write() as s:
        s.add(models.PlatformSecret(name="t", value="v", created_at=plus_two))
    with db.read() as s:
        got = s.get_one(models.PlatformSecret, "t").created_at
    db.dispose()
    assert got == plus_two
    assert got.tzinfo == UTC
    assert got.hour == 3


def test_naive_datetime_is_refused(sqlite_url: str) -> None:
    schema.upgrade(sqlite_url)
    db = engine.Database(sqlite_url)
    with pytest.raises(sa.exc.StatementError, match="naive datetime"), db.write() as s:
        s.add(models.PlatformSecret(name="t", value="v", created_at=datetime(2026, 1, 1)))
    db.dispose()


def test_sqlite_pragmas(sqlite_url: str) -> None:
    db = engine.Database(sqlite_url)
    with db.read() as s:
        assert s.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert s.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1
        assert s.execute(sa.text("PRAGMA busy_timeout")).scalar() == engine.BUSY_TIMEOUT_MS
    db.dispose()


def test_default_url_is_sqlite_in_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(engine.ENV_URL, raising=False)
    assert schema.database_url(None, "/srv/airpool") == "sqlite:////srv/airpool/airpool.db"
    assert schema.database_url("postgresql+psycopg://x/y", "/srv") == "postgresql+psycopg://x/y"
    monkeypatch.setenv(engine.ENV_URL, "sqlite:////tmp/env.db")
    assert schema.database_url("postgresql+psycopg://x/y", "/srv") == "sqlite:////tmp/env.db"


def test_db_cli_upgrade_and_current(database_url: str) -> None:
    runner = CliRunner()
    behind = runner.invoke(app, ["db", "current", "--database-url", database_url])
    assert behind.exit_code == 1
    assert "airpool db upgrade" in behind.output
    up = runner.invoke(app, ["db", "upgrade", "--database-url", database_url])
    assert up.exit_code == 0, up.output
    assert "current schema revision" in up.output
    now = runner.invoke(app, ["db", "current", "--database-url", database_url])
    assert now.exit_code == 0
    assert schema.head() in now.output
    assert "Traceback" not in behind.output


def test_upgrade_from_first_revision_keeps_data(database_url: str) -> None:
    schema.upgrade(database_url, revision="0001")
    eng = engine.make_engine(database_url)
    with eng.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO pool_namespaces (name, state, in_config, state_since, health_reason, version, created_at)"
                " VALUES ('keep-me', 'available', true, :t, '', 1, :t)"
            ),
            {"t": datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None)},
        )
    assert schema.check(database_url).status is schema.SchemaStatus.BEHIND
    assert schema.upgrade(database_url).status is schema.SchemaStatus.CURRENT
    with eng.connect() as conn:
        assert conn.execute(sa.text("SELECT name FROM pool_namespaces")).scalars().all() == ["keep-me"]
        indexes = {ix["name"] for ix in sa.inspect(conn).get_indexes("pool_namespaces")}
    eng.dispose()
    assert "ix_pool_namespaces_state_name" in indexes


def test_check_can_reuse_the_running_database(database_url: str) -> None:
    schema.upgrade(database_url)
    db = engine.Database(database_url)
    assert schema.check(database_url, database=db).status is schema.SchemaStatus.CURRENT
    db.dispose()


def test_dead_database_is_a_clear_error_without_the_password() -> None:
    from tests.support.postgres import free_port

    url = f"postgresql+psycopg://airpool:hunter2@127.0.0.1:{free_port()}/airpool"
    with pytest.raises(schema.DatabaseUnavailable) as err:
        schema.check(url)
    assert err.value.message.startswith("cannot reach the database postgresql+psycopg://airpool:***@127.0.0.1:")
    assert "hunter2" not in err.value.message
    result = CliRunner().invoke(app, ["db", "upgrade", "--database-url", url])
    assert result.exit_code == 1
    assert "cannot reach the database" in result.output
    assert "Traceback" not in result.output


def test_checking_a_missing_sqlite_file_creates_nothing(tmp_path: Path) -> None:
    target = tmp_path / "not" / "there.db"
    assert schema.check(f"sqlite:///{target}").status is schema.SchemaStatus.BEHIND
    assert not (tmp_path / "not").exists()


def test_dead_database_during_a_request_is_a_clear_error() -> None:
    from airpool.services import platform, pool
    from tests.support import platform as tp
    from tests.support.postgres import free_port

    url = f"postgresql+psycopg://airpool:hunter2@127.0.0.1:{free_port()}/airpool"
    p = platform.Platform(config=tp.config(), db=engine.Database(url))
    with pytest.raises(schema.DatabaseUnavailable, match="cannot reach the database") as err:
        pool.available_namespaces(p)
    assert "hunter2" not in err.value.message
    p.close()


@pytest.mark.postgres
def test_connections_killed_by_the_server_fail_one_request_then_recover(postgres_url: str) -> None:
    from airpool.services import pool
    from tests.support import platform as tp

    p = tp.make(postgres_url, tp.config(pool_names=("pool-a",)))
    assert pool.available_namespaces(p) == ["pool-a"]
    killer = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with killer.connect() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    killer.dispose()
    with pytest.raises(schema.DatabaseUnavailable):
        pool.available_namespaces(p)
    assert pool.available_namespaces(p) == ["pool-a"]  # the pool dropped the dead connections
    p.close()


def test_upgrade_to_0003_keeps_deployments_and_reads_them_as_image_based(database_url: str) -> None:
    """0003 adds ``deployments.dag_deployment``: rows from before have NULL there, which means image-based."""
    from airpool.domain import dags
    from airpool.services import views

    schema.upgrade(database_url, revision="0002")
    eng = engine.make_engine(database_url)
    t = datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None)
    with eng.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO workspaces (id, label, description, created_at, updated_at) VALUES ('w', 'W', '', :t, :t)"
            ),
            {"t": t},
        )
        conn.execute(
            sa.text(
                "INSERT INTO deployments (id, label, description, release_name, executor, airflow_version, namespace,"
                " workspace_id, status, status_message, urls, created_at, updated_at) VALUES ('d', 'D', '', 'r',"
                " 'CeleryExecutor', '3.1.3', 'ns', 'w', 'healthy', '', '[]', :t, :t)"
            ),
            {"t": t},
        )
    eng.dispose()
    assert schema.upgrade(database_url).status is schema.SchemaStatus.CURRENT
    db = engine.Database(database_url)
    with db.read() as s:
        row = s.get(models.Deployment, "d")
        assert row is not None
        assert row.dag_deployment is None
        assert views.DeploymentView.of(row).dag_deployment == dags.IMAGE
    db.dispose()
