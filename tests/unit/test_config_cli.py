"""``airpool config validate`` without a cluster: exit codes, effective configuration, warnings and notes."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from airpool.cli import config_cmd
from airpool.cli.main import app

EXAMPLE = Path(__file__).parents[2] / "examples" / "values.yaml"


def test_validate_prints_the_effective_configuration_and_exits_0() -> None:
    result = CliRunner().invoke(app, ["config", "validate", "-f", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    body, _, _tail = result.stdout.rpartition("configuration is valid")
    shown = yaml.safe_load(body)
    assert shown["namespacePool"] == {
        "enabled": True,
        "source": "standard",
        "names": ["airflow-pool-1", "airflow-pool-2", "airflow-pool-3"],
        "createNamespaces": True,
        "createRbac": True,
    }
    assert shown["platform"]["commanderServiceAccount"] == "astronomer/astronomer-commander"
    # The example keeps each Deployment's metadata database in its namespace: validate says what that means.
    assert result.stderr == config_cmd.IN_NAMESPACE_DATABASE_NOTE + "\n"
    assert "PersistentVolumeClaim" in result.stderr
    assert "nothing backs it up" in result.stderr


def test_validate_warns_that_an_ephemeral_in_namespace_database_dies_with_its_pod(tmp_path: Path) -> None:
    override = tmp_path / "ephemeral.yaml"
    override.write_text("airpool: {airflow: {postgresql: {persistence: {enabled: false}}}}\n")
    result = CliRunner().invoke(app, ["config", "validate", "-f", str(EXAMPLE), "-f", str(override)])
    assert result.exit_code == 0, result.output
    assert result.stderr == config_cmd.IN_NAMESPACE_EPHEMERAL_NOTE + "\n"
    assert "emptyDir" in result.stderr


def test_validate_says_nothing_about_the_database_once_databaseAdminUrl_is_set(tmp_path: Path) -> None:
    override = tmp_path / "database.yaml"
    override.write_text("airpool: {airflow: {databaseAdminUrl: 'postgresql://admin:pw@db.example.com/postgres'}}\n")
    result = CliRunner().invoke(app, ["config", "validate", "-f", str(EXAMPLE), "-f", str(override)])
    assert result.exit_code == 0, result.output
    assert "databaseAdminUrl is unset" not in result.stderr
    assert result.stderr == ""


def test_validate_shows_warnings_ignored_keys_and_masks_passwords(tmp_path: Path) -> None:
    override = tmp_path / "override.yaml"
    override.write_text(
        "global: {clusterRoles: false}\n"
        "nginx: {replicas: 2}\n"
        "astronomer: {houston: {config: {deployments: {hardDeleteDeployment: false}}}}\n"
        "airpool: {databaseUrl: 'postgresql+psycopg://airpool:s3cret@db/airpool'}\n"
    )
    result = CliRunner().invoke(app, ["config", "validate", "-f", str(EXAMPLE), "-f", str(override)])
    assert result.exit_code == 0, result.output
    assert "Warning: soft delete with a pool" in result.stderr
    assert "Note: ignored 1 Astronomer chart key(s) airpool does not use: nginx" in result.stderr
    assert "s3cret" not in result.stdout
    assert "postgresql+psycopg://airpool:***@db/airpool" in result.stdout


def test_validate_lists_every_error_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("global:\n  features:\n    namespacePools: {enabled: true, namespaces: {names: [a, a, B]}}\n")
    result = CliRunner().invoke(app, ["config", "validate", "-f", str(bad)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "Error: invalid configuration (2 problems in" in result.stderr
    assert 'names[1]: "a" is listed twice' in result.stderr
    assert 'names[2]: "B" is not a valid namespace name' in result.stderr
    assert "Traceback" not in result.output


def test_yaml_syntax_error_exits_1_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("global:\n  rbacEnabled: [true\n")
    result = CliRunner().invoke(app, ["config", "validate", "-f", str(bad)])
    assert result.exit_code == 1
    assert f"Error: {bad}:3:1: YAML syntax error" in result.stderr
