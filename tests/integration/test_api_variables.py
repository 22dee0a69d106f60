"""Houston's ``deploymentVariables`` / ``updateDeploymentVariables`` over HTTP, on SQLite and PostgreSQL: the list
is replaced as a whole, secret values are write-only (never in an answer, the audit trail or the Deployment row),
bad input is refused naming the entry and changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from airpool.services.platform import Platform
from airpool.store import models
from tests.integration.test_api_update import JOBS, _create
from tests.support import platform as tp
from tests.support.api_server import PASSWORD, GraphQL, make_platform, running_app
from tests.support.houston_deployments import UPDATE_VARIABLES, VARIABLES

SECRET = "s3cr3t-value-never-shown"
AUDIT = "query { auditEvents(take: 50) { action detail } }"
EVERYTHING = "query($id: String!) { deployment(where: {id: $id}) { id label description config statusMessage } }"


@pytest.fixture
def plat(database_url: str) -> Iterator[Platform]:
    p = make_platform(database_url, tp.config(pool_names=("pool-a",), hard_delete=True))
    yield p
    p.close()


@pytest.fixture
def admin(plat: Platform) -> Iterator[GraphQL]:
    with running_app(plat) as base:
        yield GraphQL(base).signup("admin")


def _set(client: GraphQL, dep: dict[str, Any], items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sent = {"deploymentUuid": dep["id"], "releaseName": dep["releaseName"], "environmentVariables": items}
    answer: list[dict[str, Any]] = client.data(UPDATE_VARIABLES, sent)["updateDeploymentVariables"]
    return answer


def test_variables_replace_as_a_list_and_secrets_are_write_only(admin: GraphQL, plat: Platform) -> None:
    dep = _create(admin)
    ids = {"deploymentUuid": dep["id"], "releaseName": dep["releaseName"]}
    assert admin.data(VARIABLES, ids)["deploymentVariables"] == []
    jobs_before = len(admin.data(JOBS, {"id": dep["id"]})["deploymentJobs"])
    answer = _set(
        admin,
        dep,
        [
            {"key": "MY_SETTING", "value": "plain", "isSecret": False},
            {"key": "API_TOKEN", "value": SECRET, "isSecret": True},
        ],
    )
    assert answer == [
        {"key": "API_TOKEN", "value": None, "isSecret": True},
        {"key": "MY_SETTING", "value": "plain", "isSecret": False},
    ]
    assert admin.data(VARIABLES, ids)["deploymentVariables"] == answer
    queued = admin.data(JOBS, {"id": dep["id"]})["deploymentJobs"]
    assert len(queued) == jobs_before + 1  # an upgrade is queued, saying why
    assert [j["reason"] for j in queued if j["kind"] == "upgrade"] == ["environment variables changed"]

    # The secret sent back without a value keeps its value; a plain one changes; a missing one goes.
    _set(admin, dep, [{"key": "API_TOKEN", "isSecret": True}, {"key": "OTHER", "value": "x", "isSecret": False}])
    with plat.db.read() as s:
        rows = {r.key: r for r in s.scalars(sa.select(models.DeploymentVariable))}
        assert set(rows) == {"API_TOKEN", "OTHER"}
        assert rows["API_TOKEN"].value == SECRET
        dep_row = s.get(models.Deployment, dep["id"])
        assert dep_row is not None
        assert SECRET not in json.dumps(dep_row.config) + dep_row.status_message + dep_row.description
    seen = json.dumps(
        [
            admin.data(VARIABLES, ids),
            admin.data(AUDIT),
            admin.data(EVERYTHING, {"id": dep["id"]}),
            admin.data(JOBS, {"id": dep["id"]}),
        ]
    )
    assert SECRET not in seen
    assert "deployment.variables" in seen

    # Sending the same list again changes nothing and queues nothing.
    jobs = len(admin.data(JOBS, {"id": dep["id"]})["deploymentJobs"])
    _set(admin, dep, [{"key": "API_TOKEN", "isSecret": True}, {"key": "OTHER", "value": "x", "isSecret": False}])
    assert len(admin.data(JOBS, {"id": dep["id"]})["deploymentJobs"]) == jobs


def test_bad_variables_are_refused_naming_the_entry_and_change_nothing(admin: GraphQL) -> None:
    dep = _create(admin)
    _set(admin, dep, [{"key": "KEEP", "value": "1", "isSecret": False}])
    sent = {"deploymentUuid": dep["id"], "releaseName": dep["releaseName"]}
    refusals = [
        ([{"key": "1BAD", "value": "x"}], "environmentVariables[0].key '1BAD' is not an environment variable name"),
        ([{"key": "A", "value": "x"}, {"key": "A", "value": "y"}], "environmentVariables[1].key A is given twice"),
        ([{"key": "NEW_SECRET", "isSecret": True}], "environmentVariables[0].value is missing; a new secret"),
        (
            [{"key": "AIRFLOW__CORE__FERNET_KEY", "value": "x"}],
            "environmentVariables[0].key AIRFLOW__CORE__FERNET_KEY is set by airpool itself",
        ),
        ([{"key": "BIG", "value": "x" * 40_000}], "environmentVariables[0].value is 40000 characters long"),
    ]
    # What the platform sets for the metadata database, the broker and the Fernet key, under any name Airflow reads
    # for it: the old one (accepted before, and read by an Airflow 2 image's entrypoint) and the _CMD/_SECRET forms.
    refusals += [
        (
            [{"key": "OK", "value": "1"}, {"key": "AIRFLOW__CORE__SQL_ALCHEMY_CONN", "value": "postgresql://x"}],
            "environmentVariables[1].key AIRFLOW__CORE__SQL_ALCHEMY_CONN is the old name (Airflow before 2.3) of "
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN, the metadata database connection, which airpool sets itself; it "
            "cannot be overridden",
        ),
        (
            [{"key": "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "value": "postgresql://x"}],
            "environmentVariables[0].key AIRFLOW__DATABASE__SQL_ALCHEMY_CONN is set by airpool itself (the metadata "
            "database connection); it cannot be overridden",
        ),
        (
            [{"key": "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD", "value": "cat /x"}],
            "environmentVariables[0].key AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD would set "
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN (the metadata database connection) from a command",
        ),
        (
            [{"key": "AIRFLOW__CELERY__BROKER_URL_SECRET", "value": "broker"}],
            "AIRFLOW__CELERY__BROKER_URL_SECRET would set AIRFLOW__CELERY__BROKER_URL (the Celery broker) from a "
            "secrets backend",
        ),
        (
            [{"key": "AIRFLOW__CORE__FERNET_KEY_CMD", "value": "cat /key"}],
            "AIRFLOW__CORE__FERNET_KEY_CMD would set AIRFLOW__CORE__FERNET_KEY (the Fernet key",
        ),
        (
            [{"key": "AIRFLOW__CORE__SQL_ALCHEMY_POOL_ENABLED", "value": "True"}],
            "AIRFLOW__CORE__SQL_ALCHEMY_POOL_ENABLED is the old name (Airflow before 2.3) of "
            "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_ENABLED",
        ),
    ]
    for items, message in refusals:
        error = admin.error(UPDATE_VARIABLES, {**sent, "environmentVariables": items})
        assert message in error["message"], error
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert admin.data(VARIABLES, sent)["deploymentVariables"] == [{"key": "KEEP", "value": "1", "isSecret": False}]

    # A viewer reads (secrets still null) but cannot write.
    ws = admin.data("query { workspaces { id } }")["workspaces"][0]["id"]
    admin.data(
        "mutation($e: String!, $p: String!) { createUser(email: $e, password: $p) { user { id } } }",
        {"e": "vera", "p": PASSWORD},
    )
    admin.data(
        "mutation($w: Uuid!, $e: String!) { workspaceAddUser(workspaceUuid: $w, email: $e, role: WORKSPACE_VIEWER) "
        "{ id } }",
        {"w": ws, "e": "vera"},
    )
    viewer = admin.as_(None).login("vera")
    assert viewer.data(VARIABLES, sent)["deploymentVariables"] == [{"key": "KEEP", "value": "1", "isSecret": False}]
    forbidden = viewer.error(UPDATE_VARIABLES, {**sent, "environmentVariables": []})
    assert forbidden["extensions"]["code"] == "FORBIDDEN"
