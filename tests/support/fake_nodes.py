"""How Deployments are configured on the dev cluster's simulated (kwok) nodes, where no container runs.

Two settings differ from a real cluster, each documented for admins in docs/configuration.md:
- ``airpool.airflow.readHealthEndpoint: false``: no Airflow process answers its health endpoint on a simulated
  node, so status there is Kubernetes readiness alone (and says so in its message);
- ``...persistence.enabled: false``: no provisioner backs a PersistentVolumeClaim on simulated nodes, so the
  in-namespace PostgreSQL and the KubernetesExecutor's log volume use emptyDirs.
Real-node tests (``realnode`` marker) use the defaults instead.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from airpool.config.model import AirflowDefaults, Persistence

_defaults = AirflowDefaults()

#: ``airpool.airflow`` of a values file for simulated nodes.
AIRFLOW_VALUES: dict[str, Any] = {
    "readHealthEndpoint": False,
    "postgresql": {"persistence": {"enabled": False}},
    "logs": {"persistence": {"enabled": False}},
}

#: The same as ``PlatformConfig.airflow``.
AIRFLOW = dataclasses.replace(
    _defaults,
    read_health_endpoint=False,
    postgresql_persistence=Persistence(enabled=False),
    logs_persistence=dataclasses.replace(_defaults.logs_persistence, enabled=False),
)

#: The same as ``AirflowSpec`` fields, for tests that build a spec themselves.
SPEC: dict[str, Any] = {
    "postgresql_persistence": AIRFLOW.postgresql_persistence,
    "logs_persistence": AIRFLOW.logs_persistence,
}


def overlay(folder: Path) -> Path:
    """A values file with the simulated-node settings, to pass after the test's own values (later files win)."""
    path = folder / "values-fake-nodes.yaml"
    path.write_text(yaml.safe_dump({"airpool": {"airflow": AIRFLOW_VALUES}}))
    return path
