"""What an install job's payload may ask for, and where commander places a Deployment."""

from __future__ import annotations

from dataclasses import replace

import pytest

from airpool.commander import errors, specs, worker
from airpool.config.model import DeploymentSettings, PlatformConfig, PoolSettings, PoolSource
from airpool.manifests.airflow.spec import DagSource


def test_dag_deployment_defaults_to_the_image() -> None:
    assert worker.dag_deployment({}) is None
    assert worker.dag_deployment({"dag_deployment": {"type": "image"}}) is None


def test_nfs_dag_deployment_is_parsed_and_checked() -> None:
    dags = worker.dag_deployment({"dag_deployment": {"type": "nfs", "nfs_location": "nfs.local:/dags"}})
    assert dags is not None
    assert (dags.source, dags.nfs_server, dags.nfs_path) == (DagSource.NFS, "nfs.local", "/dags")
    with pytest.raises(errors.AirpoolError, match="server:/path"):
        worker.dag_deployment({"dag_deployment": {"type": "nfs", "nfs_location": "nfs.local"}})
    with pytest.raises(errors.CommanderError, match=r"allowed: image \(the default\), nfs, git_sync"):
        worker.dag_deployment({"dag_deployment": {"type": "git"}})


def test_placement_follows_the_pool_and_cluster_roles() -> None:
    pool = PoolSettings(names=("pool-a",), create_namespaces=False, create_rbac=True, source=PoolSource.STANDARD)
    cfg = PlatformConfig(pool=pool, cluster_roles=False, deployments=DeploymentSettings(nfs_dag_deploys=True))
    assert specs.placement(cfg, "pool-a") == specs.Placement(in_pool=True, cluster_scoped=False)
    assert specs.placement(cfg, "elsewhere").manage_namespace is True
    assert specs.placement(PlatformConfig(), "x") == specs.Placement(in_pool=False, cluster_scoped=False)


def test_external_database_names_derive_from_the_release() -> None:
    cfg = PlatformConfig()
    assert specs.external_database(cfg, "lunar-rocket-1234") is None
    url = "postgresql+psycopg://admin:pw@db.internal:5433/postgres"
    with_db = replace(cfg, airflow=replace(cfg.airflow, database_admin_url=url))
    db = specs.external_database(with_db, "lunar-rocket-1234")
    assert db is not None
    assert (db.host, db.port, db.database, db.user) == (
        "db.internal",
        5433,
        "airflow_lunar_rocket_1234",
        "airflow_lunar_rocket_1234",
    )
