"""With a PostgreSQL admin URL, each Deployment gets its own database and role (real PostgreSQL + real API
server); the connection lives in the Deployment's Secret and both are dropped on final removal."""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

import lightkube
import psycopg
import pytest
from lightkube.resources.apps_v1 import StatefulSet
from lightkube.resources.core_v1 import Secret

from airpool.commander import database, install, uninstall
from airpool.domain.deployments import Executor
from airpool.manifests.airflow.spec import AirflowSpec
from tests.support import commander_env

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def connect_as(admin_url: str, db: database.ExternalDatabase, password: str) -> psycopg.Connection[tuple[object, ...]]:
    parts = urlsplit(admin_url)
    return psycopg.connect(
        host=parts.hostname, port=parts.port, dbname=db.database, user=db.user, password=password, connect_timeout=5
    )


def test_per_deployment_database_is_created_kept_on_reapply_and_dropped_on_final_removal(
    postgres_admin_url: str, admin_client: lightkube.Client, commander_client: lightkube.Client
) -> None:
    with commander_env.pool_namespace(admin_client) as ns:
        ext = database.external_database(postgres_admin_url, "nova-star-2024")
        spec = AirflowSpec(
            deployment_id="dep-db",
            release_name="nova-star-2024",
            namespace=ns,
            executor=Executor.LOCAL,
            external_database=ext,
        )
        install.install(commander_client, spec, database_admin_url=postgres_admin_url)
        stored = admin_client.get(Secret, "nova-star-2024-metadata", namespace=ns).data
        password = base64.b64decode(stored["password"]).decode()
        connection = base64.b64decode(stored["connection"]).decode()
        assert connection.startswith(f"postgresql+psycopg2://{ext.user}:")
        with connect_as(postgres_admin_url, ext, password) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == (ext.database,)
        assert [s.metadata.name for s in admin_client.list(StatefulSet, namespace=ns)] == []

        install.install(commander_client, spec, database_admin_url=postgres_admin_url)  # converges, same password
        with connect_as(postgres_admin_url, ext, password) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        commander_env.wait_healthy(commander_client, spec)

        uninstall.uninstall(
            commander_client, namespace=ns, deployment_id="dep-db", drop_database=(postgres_admin_url, ext)
        )
        assert not database.exists(postgres_admin_url, ext)
        with database.admin_connection(postgres_admin_url) as conn:
            assert conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ext.user,)).fetchone() is None
