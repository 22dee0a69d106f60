"""NFS DAG deploys through ``/v1`` as the astro CLI sends them (``dagDeployment: {type: "volume", nfsLocation}``),
on SQLite and PostgreSQL: the choice shows on the Deployment, reaches commander's job, and bad or impossible
requests are refused with the reason and write nothing."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from airpool.config.model import DeploymentSettings, PlatformConfig
from airpool.domain import dags
from airpool.services import commander_jobs
from airpool.services.platform import Platform
from airpool.store import models
from tests.support import platform as tp
from tests.support.api_server import GraphQL, make_platform, running_app

POOL = ("pool-a", "pool-b", "pool-c")
LOCATION = "nfs.example.com:/exports/dags"
APP_CONFIG = "{ appConfig { configureDagDeployment nfsMountDagDeployment featureFlags } }"
CREATE = """
mutation($ws: Uuid!, $dag: DagDeployment) {
  createDeployment(label: "x", workspaceUuid: $ws, executor: CeleryExecutor, dagDeployment: $dag) {
    id namespace dagDeployment { type nfsLocation }
  }
}"""
LIST = "query($ws: Uuid!) { workspaceDeployments(workspaceUuid: $ws) { id dagDeployment { type nfsLocation } } }"


def _config(*, nfs: bool, cluster_roles: bool = True) -> PlatformConfig:
    base = tp.config(pool_names=POOL, hard_delete=True)
    settings = DeploymentSettings(hard_delete=True, nfs_dag_deploys=nfs)
    return dataclasses.replace(base, cluster_roles=cluster_roles, deployments=settings)


@pytest.fixture
def served(database_url: str, request: pytest.FixtureRequest) -> Iterator[tuple[Platform, GraphQL, str]]:
    plat = make_platform(database_url, getattr(request, "param", _config(nfs=True)))
    try:
        with running_app(plat) as base:
            admin = GraphQL(base).signup("admin")
            ws = admin.data("{ workspaces { id } }")["workspaces"][0]["id"]
            yield plat, admin, ws
    finally:
        plat.close()


def _snapshot(plat: Platform) -> dict[str, Any]:
    with plat.db.read() as s:
        return {
            t.__tablename__: s.scalar(sa.select(sa.func.count()).select_from(t))
            for t in (models.Deployment, models.CommanderJob, models.AuditEvent, models.PoolNamespace)
        } | {"claimed": s.scalar(sa.select(sa.func.count()).where(models.PoolNamespace.holder_id.is_not(None)))}


def test_app_config_says_nfs_is_on(served: tuple[Platform, GraphQL, str]) -> None:
    _, admin, _ = served
    config = admin.data(APP_CONFIG)["appConfig"]
    assert config["nfsMountDagDeployment"] is config["configureDagDeployment"] is True
    assert config["featureFlags"]["nfsMountDagDeployment"] is True


def test_volume_as_the_cli_sends_it_shows_on_the_deployment_and_reaches_commander(
    served: tuple[Platform, GraphQL, str],
) -> None:
    plat, admin, ws = served
    made = admin.data(CREATE, {"ws": ws, "dag": {"type": "volume", "nfsLocation": LOCATION}})["createDeployment"]
    assert made["dagDeployment"] == {"type": "volume", "nfsLocation": LOCATION}
    also = admin.data(CREATE, {"ws": ws, "dag": {"type": "nfs", "nfsLocation": "10.0.0.5:/dags"}})["createDeployment"]
    plain = admin.data(CREATE, {"ws": ws, "dag": {}})["createDeployment"]
    assert also["dagDeployment"] == {"type": "volume", "nfsLocation": "10.0.0.5:/dags"}
    assert plain["dagDeployment"] == {"type": "image", "nfsLocation": None}
    listed = {d["id"]: d["dagDeployment"] for d in admin.data(LIST, {"ws": ws})["workspaceDeployments"]}
    assert listed[made["id"]] == made["dagDeployment"]
    install = commander_jobs.for_deployment(plat, made["id"])[0]
    assert install.payload == {"dag_deployment": {"type": "nfs", "nfs_location": LOCATION}}
    assert commander_jobs.for_deployment(plat, plain["id"])[0].payload == {}


@pytest.mark.parametrize(
    ("dag", "message"),
    [
        (
            {"type": "volume", "nfsLocation": "nfs.example.com/dags"},
            "nfsLocation 'nfs.example.com/dags': has no ':' between the server and the path; use server:/path "
            f"{dags.NFS_LOCATION_FORM.removeprefix('server:/path ')}",
        ),
        ({"type": "volume"}, f"dagDeployment type nfs needs an nfsLocation of the form {dags.NFS_LOCATION_FORM}"),
        ({"type": "image", "repositoryUrl": "https://x"}, "dagDeployment.repositoryUrl is a git-sync setting"),
    ],
)
def test_bad_dag_deployment_is_bad_user_input_and_writes_nothing(
    served: tuple[Platform, GraphQL, str], dag: dict[str, str], message: str
) -> None:
    plat, admin, ws = served
    before = _snapshot(plat)
    error = admin.error(CREATE, {"ws": ws, "dag": dag})
    assert error["message"].startswith(message)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert _snapshot(plat) == before


@pytest.mark.parametrize(
    ("served", "message"),
    [
        (_config(nfs=False), "NFS DAG deploys are not enabled on this installation"),
        (_config(nfs=True, cluster_roles=False), dags.NFS_WITHOUT_CLUSTER_ROLES),
    ],
    indirect=["served"],
    ids=["disabled", "pool-without-cluster-roles"],
)
def test_nfs_the_installation_cannot_carry_is_refused_with_the_reason(
    served: tuple[Platform, GraphQL, str], message: str
) -> None:
    plat, admin, ws = served
    before = _snapshot(plat)
    error = admin.error(CREATE, {"ws": ws, "dag": {"type": "volume", "nfsLocation": LOCATION}})
    assert error["message"].startswith(message)
    assert _snapshot(plat) == before
    if "not enabled" in message:
        assert admin.data(APP_CONFIG)["appConfig"]["nfsMountDagDeployment"] is False
