"""``airpool dev values``: the overlay that fits the running dev cluster's nodes, which scripts/run.sh serves with."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from airpool import config, devcluster
from airpool.cli.main import app

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_a_fake_node_cluster_gets_the_simulated_node_settings(dev_cluster: devcluster.ClusterInfo) -> None:
    result = CliRunner().invoke(app, ["dev", "values", "--data-dir", str(dev_cluster.data_dir)])
    assert result.exit_code == 0, result.output
    overlay = Path(result.stdout.strip())
    assert overlay == EXAMPLES / "values-dev-fakenodes.yaml"
    cfg = config.load([EXAMPLES / "values.yaml", overlay])
    assert cfg.airflow.read_health_endpoint is False
    assert cfg.airflow.postgresql_persistence.enabled is False


def test_no_running_cluster_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["dev", "values", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "no dev cluster is running: start it with" in result.output


def test_both_overlays_are_valid_after_the_example() -> None:
    for name in ("values-dev-fakenodes.yaml", "values-dev-realnode.yaml"):
        assert yaml.safe_load((EXAMPLES / name).read_text())["airpool"]
        config.load([EXAMPLES / "values.yaml", EXAMPLES / name])
