"""Airflow upgrades and image deploys the way the astro CLI sends them to a Houston 0.37 server
(astronomer/astro-cli, houston/deployment.go: UpdateDeploymentAirflowRequest, DeploymentImageUpdateRequest 0.25.0,
GetDeployment 0.29.0; apc/deployment/deployment.go: AirflowUpgrade / AirflowUpgradeCancel), on SQLite and
PostgreSQL: Houston's answer shapes, refusals that name the field and change nothing, roles enforced. No commander
runs here: what commander does with the queued rollout is tests/integration/test_commander_upgrade.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from airpool.services.platform import Platform
from tests.integration.test_api_houston import CREATE_DEPLOYMENT, WORKSPACES
from tests.integration.test_api_update import GET_DEPLOYMENT, JOBS
from tests.support import platform as tp
from tests.support.api_server import PASSWORD, GraphQL, make_platform, running_app

# The CLI's documents, verbatim.
UPDATE_DEPLOYMENT_AIRFLOW = """
	mutation updateDeploymentAirflow($deploymentId: Uuid!, $desiredAirflowVersion: String!) {
		updateDeploymentAirflow(deploymentUuid: $deploymentId, desiredAirflowVersion: $desiredAirflowVersion) {
			id
			label
			version
			releaseName
			airflowVersion
			desiredAirflowVersion
		}
	}"""
UPDATE_DEPLOYMENT_IMAGE = """
			mutation updateDeploymentImage(
				$releaseName:String!,
				$image:String!,
				$airflowVersion:String,
				$runtimeVersion:String,
			){
				updateDeploymentImage(
					releaseName:$releaseName,
					image:$image,
					airflowVersion:$airflowVersion,
					runtimeVersion:$runtimeVersion
				){
					releaseName
					airflowVersion
					runtimeVersion
				}
			}"""
# airpool's own fields about the rollout.
ROLLOUT = """
query($id: String!) {
  deployment(where: {id: $id}) {
    airflowVersion desiredAirflowVersion image desiredImage rolloutPhase rolloutError status statusMessage
  }
}"""
IMAGE = "registry.example.com/data-team/airflow:deploy-7"


@pytest.fixture
def plat(database_url: str) -> Iterator[Platform]:
    p = make_platform(database_url, tp.config(pool_names=("pool-a", "pool-b"), hard_delete=True))
    yield p
    p.close()


@pytest.fixture
def admin(plat: Platform) -> Iterator[GraphQL]:
    with running_app(plat) as base:
        yield GraphQL(base).signup("admin")


def _create(client: GraphQL, version: str) -> dict[str, Any]:
    ws = client.data(WORKSPACES)["workspaces"][0]["id"]
    variables = {
        "label": "Sales",
        "workspaceId": ws,
        "executor": "LocalExecutor",
        "airflowVersion": version,
        "cloudRole": "",
        "dagDeployment": {},
        "triggererReplicas": 1,
    }
    created: dict[str, Any] = client.data(CREATE_DEPLOYMENT, variables)["createDeployment"]
    return created


def _rollout(client: GraphQL, dep_id: str) -> dict[str, Any]:
    found: dict[str, Any] = client.data(ROLLOUT, {"id": dep_id})["deployment"]
    return found


def _upgrades(client: GraphQL, dep_id: str) -> int:
    return sum(1 for j in client.data(JOBS, {"id": dep_id})["deploymentJobs"] if j["kind"] == "upgrade")


def test_airflow_upgrade_and_its_cancel_as_the_cli_sends_them(admin: GraphQL) -> None:
    dep = _create(admin, "2.11.2")
    # `astro deployment airflow upgrade --desired-airflow-version 3.3.2`: GetDeployment, then the mutation.
    got = admin.data(GET_DEPLOYMENT, {"id": dep["id"]})["deployment"]
    assert got["airflowVersion"] == got["desiredAirflowVersion"] == "2.11.2"
    answer = admin.data(UPDATE_DEPLOYMENT_AIRFLOW, {"deploymentId": dep["id"], "desiredAirflowVersion": "3.3.2"})
    assert answer["updateDeploymentAirflow"] == {
        "id": dep["id"],
        "label": "Sales",
        "version": dep["version"],
        "releaseName": dep["releaseName"],
        "airflowVersion": "2.11.2",  # still running: the upgrade is commander's to carry out
        "desiredAirflowVersion": "3.3.2",
    }
    state = _rollout(admin, dep["id"])
    assert state["rolloutPhase"] == "queued"
    assert (state["status"], state["statusMessage"]) == ("deploying", "queued for upgrade to Airflow 3.3.2")
    assert _upgrades(admin, dep["id"]) == 1

    # `--cancel`: the CLI reads the Deployment, sees desired != current and sends desired = current.
    got = admin.data(GET_DEPLOYMENT, {"id": dep["id"]})["deployment"]
    assert (got["airflowVersion"], got["desiredAirflowVersion"]) == ("2.11.2", "3.3.2")
    cancel = {"deploymentId": dep["id"], "desiredAirflowVersion": got["airflowVersion"]}
    cancelled = admin.data(UPDATE_DEPLOYMENT_AIRFLOW, cancel)["updateDeploymentAirflow"]
    assert cancelled["airflowVersion"] == cancelled["desiredAirflowVersion"] == "2.11.2"
    assert _rollout(admin, dep["id"])["rolloutPhase"] is None
    # A second cancel: nothing to cancel, the Deployment as it is (the CLI says so itself).
    assert admin.data(UPDATE_DEPLOYMENT_AIRFLOW, cancel)["updateDeploymentAirflow"] == cancelled


def test_upgrade_refusals_name_the_field_and_change_nothing(admin: GraphQL) -> None:
    dep = _create(admin, "3.3.2")
    before = _rollout(admin, dep["id"])
    jobs = _upgrades(admin, dep["id"])
    for version, message in (
        ("3.9.9", "desiredAirflowVersion '3.9.9' is not offered on this installation; allowed: 2.11.2, 3.3.2"),
        ("2.11.2", "desiredAirflowVersion 2.11.2 is older than the running Airflow 3.3.2"),
        ("", "desiredAirflowVersion must not be empty"),
        ("latest", "is not offered on this installation"),
    ):
        error = admin.error(UPDATE_DEPLOYMENT_AIRFLOW, {"deploymentId": dep["id"], "desiredAirflowVersion": version})
        assert message in error["message"], error
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
    missing = admin.error(
        UPDATE_DEPLOYMENT_AIRFLOW,
        {"deploymentId": "8b0a5f0e-0000-4000-8000-000000000000", "desiredAirflowVersion": "3.3.2"},
    )
    assert "not found" in missing["message"]
    assert _rollout(admin, dep["id"]) == before
    assert _upgrades(admin, dep["id"]) == jobs


def test_image_deploy_as_the_cli_sends_it_and_its_refusals(admin: GraphQL) -> None:
    dep = _create(admin, "2.11.2")
    release = dep["releaseName"]
    sent = {"releaseName": release, "image": IMAGE, "airflowVersion": "2.11.2", "runtimeVersion": ""}
    answer = admin.data(UPDATE_DEPLOYMENT_IMAGE, sent)["updateDeploymentImage"]
    assert answer == {"releaseName": release, "airflowVersion": "2.11.2", "runtimeVersion": ""}
    state = _rollout(admin, dep["id"])
    assert (state["image"], state["desiredImage"], state["rolloutPhase"]) == (None, IMAGE, "queued")
    assert state["statusMessage"] == f"queued for deploy of image {IMAGE}"
    jobs = _upgrades(admin, dep["id"])
    assert jobs == 1
    reasons = [j["reason"] for j in admin.data(JOBS, {"id": dep["id"]})["deploymentJobs"] if j["kind"] == "upgrade"]
    assert reasons == [f"deploy of image {IMAGE}"]

    for changed, message in (
        ({"image": "registry.example.com/data-team/airflow"}, "names no tag"),
        ({"image": "Registry.example.com/Data/airflow:1"}, "is not an image reference"),
        ({"image": "airflow: 1"}, "contains white space"),
        ({"image": ""}, "image must not be empty"),
        ({"image": "x" * 600 + ":1"}, "at most 512 are allowed"),
        ({"runtimeVersion": "9.1.0"}, "runtimeVersion is not supported"),
        ({"airflowVersion": "2.10.5"}, "airflowVersion 2.10.5 is older than the running Airflow 2.11.2"),
        ({"airflowVersion": "1.10.15"}, "airflowVersion 1.10.15 is not supported"),
        ({"releaseName": "no-such-release"}, "deployment with release name 'no-such-release' not found"),
    ):
        error = admin.error(UPDATE_DEPLOYMENT_IMAGE, {**sent, **changed})
        assert message in error["message"], (changed, error)
    assert _rollout(admin, dep["id"]) == state
    assert _upgrades(admin, dep["id"]) == jobs

    # With a newer airflowVersion the image deploy is an upgrade (migration first).
    digest = f"{IMAGE}@sha256:{'a' * 64}"
    answer = admin.data(UPDATE_DEPLOYMENT_IMAGE, {**sent, "image": digest, "airflowVersion": "3.3.2"})
    assert answer["updateDeploymentImage"]["airflowVersion"] == "2.11.2"
    state = _rollout(admin, dep["id"])
    assert (state["desiredAirflowVersion"], state["desiredImage"]) == ("3.3.2", digest)
    assert state["statusMessage"] == f"queued for deploy of image {digest} (upgrade to Airflow 3.3.2)"


def test_roles_a_viewer_may_read_but_neither_upgrade_nor_deploy(admin: GraphQL) -> None:
    dep = _create(admin, "2.11.2")
    ws = admin.data(WORKSPACES)["workspaces"][0]["id"]
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
    before = _rollout(admin, dep["id"])
    assert viewer.data(GET_DEPLOYMENT, {"id": dep["id"]})["deployment"]["desiredAirflowVersion"] == "2.11.2"
    upgrade = viewer.error(UPDATE_DEPLOYMENT_AIRFLOW, {"deploymentId": dep["id"], "desiredAirflowVersion": "3.3.2"})
    assert upgrade["extensions"]["code"] == "FORBIDDEN"
    assert upgrade["message"] == "You do not have the appropriate permissions for that"
    image = viewer.error(
        UPDATE_DEPLOYMENT_IMAGE,
        {"releaseName": dep["releaseName"], "image": IMAGE, "airflowVersion": "", "runtimeVersion": ""},
    )
    assert image["extensions"]["code"] == "FORBIDDEN"
    # Someone outside the workspace does not even learn that the release exists.
    admin.data(
        "mutation($e: String!, $p: String!) { createUser(email: $e, password: $p) { user { id } } }",
        {"e": "olga", "p": PASSWORD},
    )
    outsider = admin.as_(None).login("olga")
    hidden = outsider.error(
        UPDATE_DEPLOYMENT_IMAGE,
        {"releaseName": dep["releaseName"], "image": IMAGE, "airflowVersion": "", "runtimeVersion": ""},
    )
    assert "not found" in hidden["message"]
    assert _rollout(admin, dep["id"]) == before
    assert _upgrades(admin, dep["id"]) == 0
