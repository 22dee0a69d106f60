"""NFS DAG deploys at the services level, on SQLite and PostgreSQL: validation, refusals that write nothing,
the choice kept on the Deployment and carried by its install and upgrade jobs."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from airpool.config.model import DeploymentSettings, PlatformConfig
from airpool.domain import dags
from airpool.domain.errors import InvalidInput
from airpool.services import commander_jobs, deployments, workspaces
from airpool.services.platform import Platform
from airpool.store import models
from tests.support import platform as tp

POOL = ("pool-a", "pool-b")
NFS = {"type": "nfs", "nfs_location": "nfs.example.com:/exports/dags"}


def _config(*, nfs: bool = True, cluster_roles: bool = True, pool: bool = True) -> PlatformConfig:
    base = tp.config(pool_names=POOL if pool else None, hard_delete=True)
    return dataclasses.replace(
        base,
        cluster_roles=cluster_roles,
        deployments=DeploymentSettings(hard_delete=True, nfs_dag_deploys=nfs),
    )


@pytest.fixture
def plat(database_url: str) -> Iterator[Platform]:
    p = tp.make(database_url, _config())
    yield p
    p.close()


def _snapshot(p: Platform) -> dict[str, Any]:
    with p.db.read() as s:
        counts = {
            t.__tablename__: s.scalar(sa.select(sa.func.count()).select_from(t))
            for t in (models.Deployment, models.CommanderJob, models.AuditEvent)
        }
        pool_rows = [(r.name, r.state, r.holder_id, r.version) for r in s.scalars(sa.select(models.PoolNamespace))]
    return {"counts": counts, "pool": sorted(pool_rows)}


def test_nfs_is_kept_on_the_deployment_and_carried_by_install_and_upgrade_jobs(plat: Platform) -> None:
    admin = tp.admin(plat)
    ws = workspaces.list_for(plat, admin)[0].id
    dep = deployments.create(plat, admin, workspace_id=ws, label="nfs", dag_deployment=NFS, airflow_version="2.11.2")
    assert dep.dag_deployment == dags.DagDeploy(type=dags.DagDeployType.NFS, nfs_location=NFS["nfs_location"])
    assert deployments.get(plat, admin, dep.id).dag_deployment == dep.dag_deployment
    leased = commander_jobs.lease(plat, worker_id="w")
    assert leased is not None
    assert leased.job.payload == {"dag_deployment": NFS}
    assert leased.deployment is not None
    assert leased.deployment.dag_deployment.is_nfs
    commander_jobs.complete(plat, leased.job.id, worker_id="w")

    deployments.update(plat, admin, dep.id, airflow_version="3.3.2")
    upgrade = commander_jobs.lease(plat, worker_id="w")
    assert upgrade is not None
    assert (upgrade.job.kind, upgrade.job.payload) == (
        "upgrade",
        {"dag_deployment": NFS, "reason": "settings changed: Airflow 3.3.2"},
    )
    commander_jobs.complete(plat, upgrade.job.id, worker_id="w")

    # The uninstall carries the Deployment's own choice: commander removes its PV even if NFS is off by then.
    deployments.delete(plat, admin, dep.id, hard=True)
    uninstall = commander_jobs.lease(plat, worker_id="w")
    assert uninstall is not None
    assert (uninstall.job.kind, uninstall.job.payload) == (
        "uninstall",
        {"hard": True, "release_name": dep.release_name, "dag_deployment": NFS},
    )


def test_image_is_the_default_and_leaves_the_payload_as_before(plat: Platform) -> None:
    admin = tp.admin(plat)
    ws = workspaces.list_for(plat, admin)[0].id
    plain = deployments.create(plat, admin, workspace_id=ws, label="plain")
    explicit = deployments.create(plat, admin, workspace_id=ws, label="image", dag_deployment={"type": "image"})
    assert plain.dag_deployment == explicit.dag_deployment == dags.IMAGE
    payloads = [j.payload for d in (plain, explicit) for j in commander_jobs.for_deployment(plat, d.id)]
    assert payloads == [{}, {}]


BAD = [
    (
        {"type": "nfs", "nfs_location": "nfs.example.com"},
        "nfsLocation 'nfs.example.com': has no ':' between the server and the path",
    ),
    ({"type": "nfs", "nfs_location": ":/dags"}, "nfsLocation ':/dags': has no server part"),
    ({"type": "nfs", "nfs_location": "nfs.example.com:dags"}, "path 'dags' is not absolute"),
    ({"type": "nfs", "nfs_location": "bad_host!:/dags"}, "server 'bad_host!' is not a host name or IP address"),
    ({"type": "nfs", "nfs_location": "10.0.0.300:/dags"}, "server '10.0.0.300' is not a valid IPv4 address"),
    ({"type": "nfs", "nfs_location": "[fd00::zz]:/dags"}, "server '[fd00::zz]' is not an IPv6 address"),
    ({"type": "nfs", "nfs_location": "h:/a/../etc"}, "path contains a '..' segment"),
    ({"type": "nfs", "nfs_location": "h:/a b"}, "path contains whitespace or control characters"),
    ({"type": "nfs"}, "dagDeployment type nfs needs an nfsLocation of the form server:/path"),
    ({"type": "git"}, "dagDeployment type 'git' is not supported; allowed: image (the default), nfs, git_sync"),
    ({"type": "image", "nfs_location": "h:/d"}, "nfsLocation is only allowed with dagDeployment type nfs"),
]


@pytest.mark.parametrize(("given", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_dag_deployment_names_the_field_and_the_form_and_writes_nothing(
    plat: Platform, given: dict[str, str], message: str
) -> None:
    admin = tp.admin(plat)
    ws = workspaces.list_for(plat, admin)[0].id
    before = _snapshot(plat)
    with pytest.raises(InvalidInput) as caught:
        deployments.create(plat, admin, workspace_id=ws, label="x", dag_deployment=given)
    assert message in caught.value.message
    if "nfs_location" in given and given["type"] == "nfs":
        assert "use server:/path (a host name or IP address, then an absolute path" in caught.value.message
    assert _snapshot(plat) == before


def test_good_locations_are_accepted() -> None:
    for location in ("nfs.example.com:/exports/dags", "10.1.2.3:/d", "[fd00::1]:/dags", "fs-1:/", "NAS.local.:/x"):
        assert dags.parse("nfs", location).nfs_location == location


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"nfs": False},
            "NFS DAG deploys are not enabled on this installation; use image-based deploys, or ask an administrator "
            "to set astronomer.houston.config.deployments.nfsMountDagDeployment: true in values.yaml",
        ),
        ({"cluster_roles": False}, dags.NFS_WITHOUT_CLUSTER_ROLES),
    ],
    ids=["nfs-disabled", "pool-without-cluster-roles"],
)
def test_nfs_is_refused_where_the_installation_cannot_carry_it_before_anything_is_written(
    database_url: str, settings: dict[str, bool], message: str
) -> None:
    p = tp.make(database_url, _config(**settings))
    try:
        admin = tp.admin(p)
        ws = workspaces.list_for(p, admin)[0].id
        before = _snapshot(p)
        with pytest.raises(InvalidInput) as caught:
            deployments.create(p, admin, workspace_id=ws, label="x", namespace="pool-b", dag_deployment=NFS)
        assert caught.value.message == message
        assert _snapshot(p) == before
        # Image-based deploys still work on the same installation.
        assert deployments.create(p, admin, workspace_id=ws, label="img").namespace == "pool-a"
    finally:
        p.close()


def test_without_a_pool_cluster_roles_false_does_not_block_nfs_here(database_url: str) -> None:
    """The PersistentVolume problem is the pool's (commander is confined to its namespaces); without a pool
    commander needs cluster rights anyway, which config validation warns about."""
    p = tp.make(database_url, _config(pool=False, cluster_roles=False))
    try:
        admin = tp.admin(p)
        ws = workspaces.list_for(p, admin)[0].id
        assert deployments.create(p, admin, workspace_id=ws, label="x", dag_deployment=NFS).dag_deployment.is_nfs
    finally:
        p.close()
