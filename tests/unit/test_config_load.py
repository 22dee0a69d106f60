"""values.yaml loading: helm-style merging, every error with its key path, YAML errors with file and line."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from airpool import config
from airpool.config import files
from airpool.devcluster.images import recipes
from airpool.domain.errors import ConfigError


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def problems(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        config.load([write(tmp_path, "values.yaml", text)])
    return caught.value.message


def test_no_files_give_the_documented_defaults() -> None:
    cfg = config.load([], environ={})
    assert cfg == config.PlatformConfig()
    assert cfg.pool is None
    assert cfg.commander_service_account == "astronomer-commander"
    assert cfg.platform_namespace == "astronomer"


def test_later_files_win_and_mappings_merge_like_helm(tmp_path: Path) -> None:
    a = write(
        tmp_path,
        "a.yaml",
        """
        global:
          rbacEnabled: false
          features: {namespacePools: {enabled: true, namespaces: {names: [pool-a, pool-b]}}}
        airpool: {server: {host: 0.0.0.0, port: 9000}}
        """,
    )
    b = write(
        tmp_path,
        "b.yaml",
        """
        global:
          features: {namespacePools: {namespaces: {names: [pool-c]}}}
        airpool: {server: {port: 9001}}
        """,
    )
    cfg = config.load([a, b])
    assert cfg.pool is not None
    assert cfg.pool.names == ("pool-c",)
    assert cfg.rbac_enabled is False  # kept from a.yaml
    assert (cfg.server.host, cfg.server.port) == ("0.0.0.0", 9001)
    assert cfg.sources == (str(a), str(b))


def test_null_in_a_later_file_removes_the_key() -> None:
    merged = files.merge({"global": {"rbacEnabled": False, "x": 1}}, {"global": {"rbacEnabled": None}})
    assert merged == {"global": {"x": 1}}


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.yaml", "global:\n  rbacEnabled: true\n  names: [a, b\nairpool: {}\n")
    with pytest.raises(ConfigError) as caught:
        config.load([path])
    assert caught.value.message.startswith(f"{path}:4:")
    assert "YAML syntax error" in caught.value.message


def test_missing_file_and_non_mapping_top_level(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="values file not found"):
        config.load([tmp_path / "nope.yaml"])
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        config.load([write(tmp_path, "list.yaml", "- a\n- b\n")])


def test_wrong_types_are_all_reported_with_path_value_and_allowed(tmp_path: Path) -> None:
    message = problems(
        tmp_path,
        """
        global:
          rbacEnabled: "yes"
          clusterRoles: 1
          features:
            namespacePools:
              enabled: true
              namespaces: {names: pool-a}
        airpool:
          retentionDays: ten
          server: {port: 70000}
        """,
    )
    assert '- global.rbacEnabled: "yes" is a string; allowed: true or false' in message
    assert "- global.clusterRoles: 1 is a number; allowed: true or false" in message
    assert '- global.features.namespacePools.namespaces.names: "pool-a" is a string; allowed: a list' in message
    assert '- airpool.retentionDays: "ten" is a string; allowed: an integer' in message
    assert "- airpool.server.port: 70000 is out of range; allowed: an integer at least 1 and at most 65535" in message
    assert message.startswith("invalid configuration (5 problems in ")


def test_a_scalar_where_a_section_belongs_is_reported_once(tmp_path: Path) -> None:
    message = problems(tmp_path, "global: 5\n")
    assert message.count("- global: 5 is a number; allowed: a mapping of keys") == 1


def test_unknown_airpool_keys_are_errors_with_a_suggestion(tmp_path: Path) -> None:
    message = problems(tmp_path, "airpool:\n  retentionDay: 3\n  server: {hots: x}\n")
    assert "airpool.retentionDay: unknown key (did you mean 'retentionDays'?); allowed under airpool:" in message
    assert "airpool.server.hots: unknown key (did you mean 'host'?); allowed under airpool.server: host, port" in (
        message
    )


def test_unknown_chart_keys_are_ignored_and_listed(tmp_path: Path) -> None:
    cfg = config.load(
        [
            write(
                tmp_path,
                "values.yaml",
                """
                global: {tlsSecret: astronomer-tls, baseDomain: example.com}
                nginx: {loadBalancerIP: 1.2.3.4}
                astronomer: {houston: {config: {email: {enabled: false}}}}
                """,
            )
        ]
    )
    # global.tlsSecret is read by airpool's Helm chart (its Ingress), so it is not listed as ignored.
    assert cfg.ignored_keys == ("astronomer.houston.config.email", "nginx")
    assert cfg.base_domain == "example.com"


def test_cron_schedule_url_executor_and_platform_names_are_checked(tmp_path: Path) -> None:
    message = problems(
        tmp_path,
        """
        airpool:
          cleanupSchedule: "every day"
          releaseName: Astro_nomer
          server: {publicUrl: example.com}
          airflow: {executor: DaskExecutor}
        """,
    )
    assert 'airpool.cleanupSchedule: "every day" is not a cron expression' in message
    assert 'airpool.releaseName: "Astro_nomer" must consist of lower case' in message
    assert 'airpool.server.publicUrl: "example.com" must start with http:// or https://' in message
    assert 'airpool.airflow.executor: "DaskExecutor" is not supported; allowed: LocalExecutor, CeleryExecutor' in (
        message
    )


def test_namespace_labels_are_checked_and_stringified(tmp_path: Path) -> None:
    cfg = config.load([write(tmp_path, "ok.yaml", "global: {namespaceLabels: {team: data, tier: 3, pii: true}}\n")])
    assert cfg.namespace_labels == (("pii", "true"), ("team", "data"), ("tier", "3"))
    message = problems(tmp_path, 'global: {namespaceLabels: {"bad key!": x, ok: "no spaces", on: x}}\n')
    assert "global.namespaceLabels.true: the key is not a string; quote it" in message
    assert "global.namespaceLabels.bad key!: is not a Kubernetes label name" in message
    assert 'global.namespaceLabels.ok: "no spaces" is not a label value' in message


def test_load_default_reads_airpool_values_and_database_url(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", "airpool: {retentionDays: 3, databaseUrl: sqlite:///a.db}\n")
    b = write(tmp_path, "b.yaml", "airpool: {healthCheckInterval: 5}\n")
    environ = {"AIRPOOL_VALUES": f"{a}{os.pathsep}{b}"}
    cfg = config.load_default(environ)
    assert (cfg.retention_days, cfg.health_check_interval, cfg.database_url) == (3, 5, "sqlite:///a.db")
    environ["AIRPOOL_DATABASE_URL"] = "postgresql+psycopg://u:p@db/airpool"
    assert config.load_default(environ).database_url == "postgresql+psycopg://u:p@db/airpool"
    assert config.load_default({}) == config.PlatformConfig()
    override = {"AIRPOOL_DATABASE_URL": "sqlite:///b.db"}
    assert config.load([a], environ=override).database_url == "sqlite:///b.db"


def test_the_example_values_file_is_valid_and_warning_free() -> None:
    cfg = config.load([Path(__file__).parents[2] / "examples" / "values.yaml"])
    assert cfg.pool is not None
    assert cfg.pool.names == ("airflow-pool-1", "airflow-pool-2", "airflow-pool-3")
    assert cfg.deployments.hard_delete is True
    assert cfg.warnings == ()
    assert cfg.ignored_keys == ()
    # The README's first Deployment (no version given) runs on scripts/run.sh's real node only with an image the
    # dev cluster built (it was 3.1.3, which nothing builds: ErrImageNeverPull).
    assert cfg.airflow.version in recipes.AIRFLOW_VERSIONS


def test_unquoted_values_that_yaml_reads_as_something_else_are_refused_with_quote_it(tmp_path: Path) -> None:
    """Issue 11: ``tier: no`` became "false" and ``cost-center: 010`` became "8" without a word."""
    message = problems(
        tmp_path,
        """
        global:
          namespaceLabels: {tier: no, env: off, cost-center: 010, on-call: yes, size: 1e3, owner: ~, ratio: 2.10}
          features:
            namespacePools:
              enabled: true
              namespaces: {names: [pool-a, 123, off, 1e3]}
        airpool:
          retentionDays: 010
          airflow: {version: 2.10}
          releaseName: ~
        """,
    )
    for path, text in (
        ("global.namespaceLabels.tier", "no"),
        ("global.namespaceLabels.env", "off"),
        ("global.namespaceLabels.cost-center", "010"),
        ("global.namespaceLabels.on-call", "yes"),
        ("global.namespaceLabels.size", "1e3"),
        ("global.namespaceLabels.owner", "~"),
        ("global.namespaceLabels.ratio", "2.10"),
        ("global.features.namespacePools.namespaces.names[1]", "123"),
        ("global.features.namespacePools.namespaces.names[2]", "off"),
        ("global.features.namespacePools.namespaces.names[3]", "1e3"),
        ("airpool.airflow.version", "2.10"),
        ("airpool.releaseName", "~"),
    ):
        lines = [line for line in message.splitlines() if line.startswith(f"  - {path}: {text} ")]
        assert len(lines) == 1, (path, message)
        assert f'quote it ("{text}")' in lines[0]
    assert "airpool.retentionDays: 010 is read by YAML as 8" in message


def test_quoted_and_faithful_values_are_accepted_and_a_later_file_can_fix_an_earlier_one(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", "global: {namespaceLabels: {tier: no, env: 'off', n: 3, pii: true}}\n")
    b = write(tmp_path, "b.yaml", 'global: {namespaceLabels: {tier: "no"}}\n')
    cfg = config.load([a, b])
    assert dict(cfg.namespace_labels) == {"tier": "no", "env": "off", "n": "3", "pii": "true"}
    with pytest.raises(ConfigError, match=r"global\.namespaceLabels\.tier: no is read by YAML as false"):
        config.load([b, a])


def test_images_default_to_public_ones_and_every_field_is_configurable(tmp_path: Path) -> None:
    from airpool.config.describe import describe

    default = config.PlatformConfig().images
    assert default.airflow.ref("3.3.2") == "apache/airflow:3.3.2"
    assert default.postgresql.ref().startswith("postgres:")
    shown = describe(config.PlatformConfig())["airpool"]["images"]
    assert shown["airflow"]["image"] == "apache/airflow:<the Deployment's Airflow version>"
    cfg = config.load(
        [
            write(
                tmp_path,
                "values.yaml",
                """
                airpool:
                  images:
                    airflow: {repository: localhost/airpool/airflow, tag: "3.3.2-dev", pullPolicy: Never}
                    redis: {repository: localhost/airpool/redis, tag: "7", pullPolicy: Never}
                    pgbouncerExporter: {enabled: false}
                  registry: {secretName: regcred}
                """,
            )
        ]
    )
    assert cfg.images.airflow.ref("ignored") == "localhost/airpool/airflow:3.3.2-dev"
    assert cfg.images.airflow.pull_policy == "Never"
    assert cfg.images.redis.ref() == "localhost/airpool/redis:7"
    assert cfg.images.pgbouncer_exporter is None
    assert cfg.images.pull_secret == "regcred"
    shown = describe(cfg)["airpool"]
    assert shown["images"]["redis"] == {"image": "localhost/airpool/redis:7", "pullPolicy": "Never"}
    assert shown["images"]["pgbouncerExporter"] == "disabled"
    assert shown["registry"] == {"secretName": "regcred"}


def test_bad_images_persistence_and_extra_volumes_name_the_key(tmp_path: Path) -> None:
    message = problems(
        tmp_path,
        """
        airpool:
          images:
            airflow: {pullPolicy: Sometimes}
            redis: {tag: "bad tag"}
          registry: {secretName: Not_A_Name}
          airflow:
            postgresql: {persistence: {size: lots, accessMode: ReadWriteSometimes}}
            extraVolumes:
              - {name: config, emptyDir: {}}
              - {name: dags-from-test}
              - just-a-string
            extraVolumeMounts:
              - {name: unknown, mountPath: /opt/airflow/dags/x}
              - {name: dags-from-test, mountPath: /opt/airflow/logs}
        """,
    )
    assert (
        'airpool.images.airflow.pullPolicy: "Sometimes" is not allowed; allowed: Always, IfNotPresent, Never' in message
    )
    assert 'airpool.images.redis.tag: "bad tag" is not an image tag' in message
    assert 'airpool.registry.secretName: "Not_A_Name" is not a Secret name' in message
    assert 'airpool.airflow.postgresql.persistence.size: "lots" is not a storage size' in message
    assert 'airpool.airflow.postgresql.persistence.accessMode: "ReadWriteSometimes" is not allowed' in message
    assert 'airpool.airflow.extraVolumes[0].name: "config" is used by airpool itself' in message
    assert 'airpool.airflow.extraVolumes[1]: volume "dags-from-test" names no source' in message
    assert 'airpool.airflow.extraVolumes[2]: "just-a-string" is' in message
    assert 'airpool.airflow.extraVolumeMounts[0].name: "unknown" is not an extra volume; allowed: (none' in message
    assert 'airpool.airflow.extraVolumeMounts[1].mountPath: "/opt/airflow/logs" is mounted by airpool itself' in message


def test_extra_volumes_and_persistence_reach_the_rendered_deployment(tmp_path: Path) -> None:
    from airpool.commander import specs

    cfg = config.load(
        [
            write(
                tmp_path,
                "values.yaml",
                """
                airpool:
                  airflow:
                    readHealthEndpoint: false
                    postgresql: {persistence: {enabled: false}}
                    logs: {persistence: {accessMode: ReadWriteOnce, storageClassName: local-path, size: 2Gi}}
                    extraVolumes: [{name: test-dags, configMap: {name: my-dags}}]
                    extraVolumeMounts: [{name: test-dags, mountPath: /opt/airflow/dags/test}]
                """,
            )
        ]
    )
    assert cfg.airflow.read_health_endpoint is False
    spec = specs.airflow_spec(
        cfg, deployment_id="d", release_name="r", namespace="n", executor="KubernetesExecutor", airflow_version="3.3.2"
    )
    assert spec.postgresql_persistence.enabled is False
    assert (spec.logs_persistence.access_mode, spec.logs_persistence.storage_class) == ("ReadWriteOnce", "local-path")
    assert spec.extra_volumes == ('{"configMap": {"name": "my-dags"}, "name": "test-dags"}',)


def test_airflow_versions_offered_for_upgrades_and_their_refusals(tmp_path: Path) -> None:
    from airpool.config.describe import describe

    default = config.load([write(tmp_path, "d.yaml", "airpool: {airflow: {version: '3.1.3'}}\n")])
    assert default.airflow.versions == ("2.11.2", "3.1.3", "3.3.2")  # the built-in list plus the default version
    assert default.airflow.upgrade_timeout == 1800
    given = config.load(
        [write(tmp_path, "g.yaml", "airpool: {airflow: {versions: ['3.3.2', '2.11.2'], upgradeTimeoutSeconds: 600}}\n")]
    )
    assert given.airflow.versions == ("2.11.2", "3.3.2")  # oldest first
    shown = describe(given)["airpool"]["airflow"]
    assert (shown["versions"], shown["upgradeTimeoutSeconds"]) == (["2.11.2", "3.3.2"], 600)
    for text, expected in (
        ("{versions: ['2.11.2']}", "airpool.airflow.versions: does not offer airpool.airflow.version (3.3.2)"),
        (
            "{versions: ['3.3.2', 'latest']}",
            'airpool.airflow.versions[1]: "latest" is not allowed; allowed: an Airflow',
        ),
        ("{versions: ['3.3.2', '1.10.15']}", 'airpool.airflow.versions[1]: "1.10.15" is not allowed'),
        ("{version: 'three'}", 'airpool.airflow.version: "three" is not allowed; allowed: a version like 3.3.2'),
        ("{upgradeTimeoutSeconds: 5}", "airpool.airflow.upgradeTimeoutSeconds: 5 is out of range"),
    ):
        with pytest.raises(ConfigError) as refused:
            config.load([write(tmp_path, "bad.yaml", f"airpool: {{airflow: {text}}}\n")])
        assert expected in str(refused.value), (text, str(refused.value))
