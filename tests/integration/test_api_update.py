"""Reading and changing a Deployment the way the astro CLI does against a Houston 0.37 server (astronomer/astro-cli,
houston/deployment.go: GetDeployment 0.29.0, DeploymentInfo 0.25.0, UpdateDeployment 0.28.0), plus the sizes an
admin allows in values.yaml; on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from airpool.config.build import build
from airpool.services.platform import Platform
from tests.integration.test_api_houston import CREATE_DEPLOYMENT, UUID, WORKSPACES, _assert_times
from tests.support import platform as tp
from tests.support.api_server import PASSWORD, GraphQL, make_platform, running_app
from tests.support.houston_deployments import UPDATE_DEPLOYMENT

POOL = ("pool-a", "pool-b")

# The CLI's documents, verbatim in their operation, argument and field names.
GET_DEPLOYMENT = """
query GetDeployment(
  $id: String!
){
  deployment(
    where: {id: $id}
  ){
    id
    airflowVersion
    desiredAirflowVersion
    runtimeVersion
    desiredRuntimeVersion
    runtimeAirflowVersion
    releaseName
    urls {
      type
      url
    }
    dagDeployment {
      type
    }
  }
}"""
DEPLOYMENT_INFO = """
query DeploymentInfo {
  deploymentConfig {
    airflowImages {
      version
      tag
    }
    airflowVersions
    defaultAirflowImageTag
  }
}"""
# airpool's own reads of what the CLI does not select.
SIZES = "query($id: String!) { deployment(where: {id: $id}) { label description executor urls { type } config } }"
LIMITS = "query { deploymentConfig { executors defaults limits } }"
UPDATE_CONFIG = """
mutation($id: Uuid!, $config: JSON, $payload: JSON) {
  updateDeployment(deploymentUuid: $id, config: $config, payload: $payload) { id label config }
}"""
JOBS = "query($id: Uuid!) { deploymentJobs(deploymentUuid: $id) { kind reason state } }"


def _config() -> Any:
    values = {
        "airpool": {
            "deploymentSizes": {
                "workers": {"maxReplicas": 3, "maxResources": {"cpu": "2", "memory": "4Gi"}},
                "scheduler": {"replicas": 1, "resources": {"limits": {"memory": "1536Mi"}}},
            }
        }
    }
    sized, problems = build(values)
    assert problems == []
    return dataclasses.replace(tp.config(pool_names=POOL, hard_delete=True), deployment_sizes=sized.deployment_sizes)


@pytest.fixture
def plat(database_url: str) -> Iterator[Platform]:
    p = make_platform(database_url, _config())
    yield p
    p.close()


@pytest.fixture
def admin(plat: Platform) -> Iterator[GraphQL]:
    with running_app(plat) as base:
        yield GraphQL(base).signup("admin")


def _create(client: GraphQL, executor: str = "CeleryExecutor") -> dict[str, Any]:
    ws = client.data(WORKSPACES)["workspaces"][0]["id"]
    variables = {
        "label": "Sales",
        "workspaceId": ws,
        "executor": executor,
        "cloudRole": "",
        "dagDeployment": {},
        "triggererReplicas": 1,
    }
    created: dict[str, Any] = client.data(CREATE_DEPLOYMENT, variables)["createDeployment"]
    return created


def _cli_update(client: GraphQL, dep_id: str, **variables: Any) -> dict[str, Any]:
    sent = {"deploymentId": dep_id, "payload": {}, "cloudRole": "", "dagDeployment": {}, **variables}
    # The CLI's UpdateDeployment also copies label and description out of the payload into variables of their own,
    # which the 0.28.0 document does not declare (a server must ignore them).
    sent.update({k: v for k, v in sent["payload"].items() if k in ("label", "description") and v})
    updated: dict[str, Any] = client.data(UPDATE_DEPLOYMENT, sent)["updateDeployment"]
    return updated


def test_get_deployment_and_deployment_info_answer_the_cli(admin: GraphQL) -> None:
    dep = _create(admin)
    got = admin.data(GET_DEPLOYMENT, {"id": dep["id"]})["deployment"]
    assert got["id"] == dep["id"]
    assert UUID.match(got["id"])
    assert got["releaseName"] == dep["releaseName"]
    assert got["airflowVersion"] == got["desiredAirflowVersion"] == dep["airflowVersion"]
    assert got["runtimeVersion"] == got["desiredRuntimeVersion"] == got["runtimeAirflowVersion"] == ""
    assert {u["type"] for u in got["urls"]} == {"airflow", "flower"}
    assert got["dagDeployment"] == {"type": "image"}
    # Unknown and malformed ids: null and a clear error, as Houston.
    assert admin.data(GET_DEPLOYMENT, {"id": "8b0a5f0e-0000-4000-8000-000000000000"})["deployment"] is None
    assert "is not a UUID" in admin.error(GET_DEPLOYMENT, {"id": "nope"})["message"]

    info = admin.data(DEPLOYMENT_INFO)["deploymentConfig"]
    version = dep["airflowVersion"]
    # The versions a Deployment may upgrade to (airpool.airflow.versions; by default 2.11.2 and 3.3.2), oldest first.
    assert info == {
        "airflowImages": [{"version": v, "tag": v} for v in ("2.11.2", "3.3.2")],
        "airflowVersions": ["2.11.2", "3.3.2"],
        "defaultAirflowImageTag": version,
    }


def test_update_deployment_label_description_executor_and_triggerer_as_the_cli_sends_it(admin: GraphQL) -> None:
    dep = _create(admin)
    updated = _cli_update(
        admin,
        dep["id"],
        payload={"label": "Sales v2", "description": "nightly loads"},
        executor="LocalExecutor",
        triggererReplicas=0,
    )
    assert updated["id"] == dep["id"]
    assert (updated["label"], updated["description"], updated["type"]) == ("Sales v2", "nightly loads", "airflow")
    assert updated["workspace"]["id"]
    assert updated["deployInfo"] == {"current": dep["airflowVersion"]}  # the TAG column of the CLI's answer
    _assert_times(updated)
    seen = admin.data(SIZES, {"id": dep["id"]})["deployment"]
    assert seen["executor"] == "LocalExecutor"
    assert [u["type"] for u in seen["urls"]] == ["airflow"]  # no flower without Celery
    assert seen["config"]["triggerer"]["replicas"] == 0
    assert seen["config"]["scheduler"]["resources"]["limits"] == {"cpu": "1", "memory": "1536Mi"}  # admin default
    jobs = admin.data(JOBS, {"id": dep["id"]})["deploymentJobs"]
    assert sorted(j["kind"] for j in jobs if j["state"] == "queued") == ["install", "upgrade"]  # no commander here
    # the job says why it runs (the Deployment page and `airpool deployment jobs` show it)
    assert [j["reason"] for j in jobs if j["kind"] == "upgrade"] == [
        "settings changed: label, description, executor LocalExecutor, sizes of triggerer"
    ]
    assert [j["reason"] for j in jobs if j["kind"] == "install"] == [""]
    # A label-only change queues no new job.
    _cli_update(admin, dep["id"], payload={"label": "Sales v3"})
    jobs_after = admin.data(JOBS, {"id": dep["id"]})["deploymentJobs"]
    assert len(jobs_after) == len(jobs)


def test_sizes_within_the_admins_limits_are_kept_and_beyond_them_refused_naming_the_field(admin: GraphQL) -> None:
    dep = _create(admin)
    limits = admin.data(LIMITS)["deploymentConfig"]
    assert set(limits["executors"]) == {"LocalExecutor", "CeleryExecutor", "KubernetesExecutor"}
    assert limits["limits"]["workers"] == {
        "minReplicas": 1,
        "maxReplicas": 3,
        "resources": {"limits": {"cpu": "2", "memory": "4Gi"}},
    }
    assert limits["defaults"]["scheduler"]["resources"]["limits"]["memory"] == "1536Mi"

    workers = {"replicas": 2, "resources": {"limits": {"cpu": "1500m", "memory": "3Gi"}}}
    done = admin.data(UPDATE_CONFIG, {"id": dep["id"], "config": {"workers": workers}})["updateDeployment"]
    assert done["config"]["workers"]["replicas"] == 2
    assert done["config"]["workers"]["resources"]["limits"] == {"cpu": "1500m", "memory": "3Gi"}
    # payload.config works too (Houston's payload), and a later change keeps earlier ones.
    admin.data(UPDATE_CONFIG, {"id": dep["id"], "payload": {"config": {"scheduler": {"replicas": 2}}}})
    kept = admin.data(SIZES, {"id": dep["id"]})["deployment"]["config"]
    assert kept["workers"]["replicas"] == 2
    assert kept["scheduler"]["replicas"] == 2

    refusals = [
        ({"workers": {"replicas": 4}}, "config.workers.replicas 4 is outside what this installation allows: 1 to 3"),
        (
            {"workers": {"resources": {"limits": {"memory": "5Gi"}}}},
            "config.workers.resources.limits.memory 5Gi is larger than this installation allows: at most 4Gi",
        ),
        ({"workers": {"resources": {"limits": {"cpu": "lots"}}}}, "config.workers.resources.limits.cpu 'lots'"),
        (
            {"workers": {"resources": {"requests": {"cpu": "1800m"}}}},
            "config.workers.resources.requests.cpu 1800m is larger than its limit 1500m",
        ),
        ({"flower": {"replicas": 2}}, "config.flower is not a component whose size can be set; allowed: "),
        ({"triggerer": {"replicas": -1}}, "config.triggerer.replicas -1 is outside"),
        ({"workers": {"replicas": "2"}}, "config.workers.replicas '2' is not a whole number"),
        ([1], "config must be an object"),
    ]
    for config, message in refusals:
        error = admin.error(UPDATE_CONFIG, {"id": dep["id"], "config": config, "payload": {"label": "changed"}})
        assert message in error["message"], (config, error)
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
    after = admin.data(SIZES, {"id": dep["id"]})["deployment"]
    assert after["label"] == "Sales"
    assert after["config"] == kept

    bad_payload = admin.error(UPDATE_CONFIG, {"id": dep["id"], "payload": {"releaseName": "x"}})
    assert "payload.releaseName cannot be changed here" in bad_payload["message"]
    nfs = admin.error(
        UPDATE_DEPLOYMENT,
        {"deploymentId": dep["id"], "payload": {}, "dagDeployment": {"type": "volume", "nfsLocation": "h:/p"}},
    )
    assert "dagDeployment cannot be changed" in nfs["message"]


def test_a_viewer_reads_but_cannot_update_and_an_outsider_sees_nothing(admin: GraphQL) -> None:
    dep = _create(admin)
    ws = admin.data(WORKSPACES)["workspaces"][0]["id"]
    for name in ("vera", "otto"):
        admin.data(
            "mutation($e: String!, $p: String!) { createUser(email: $e, password: $p) { user { id } } }",
            {"e": name, "p": PASSWORD},
        )
    admin.data(
        "mutation($w: Uuid!, $e: String!) { workspaceAddUser(workspaceUuid: $w, email: $e, role: WORKSPACE_VIEWER) "
        "{ id } }",
        {"w": ws, "e": "vera"},
    )
    viewer = admin.as_(None).login("vera")
    assert viewer.data(GET_DEPLOYMENT, {"id": dep["id"]})["deployment"]["id"] == dep["id"]
    refused = viewer.error(UPDATE_CONFIG, {"id": dep["id"], "payload": {"label": "mine"}})
    assert refused["extensions"]["code"] == "FORBIDDEN"
    outsider = admin.as_(None).login("otto")
    assert outsider.data(GET_DEPLOYMENT, {"id": dep["id"]})["deployment"] is None
    assert admin.data(SIZES, {"id": dep["id"]})["deployment"]["label"] == "Sales"
