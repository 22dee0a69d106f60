"""The effective namespace pool: standard vs advanced settings, the pool errors and every warning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from airpool import config
from airpool.config import PoolSource
from airpool.domain.errors import ConfigError


def load(tmp_path: Path, values: dict[str, Any]) -> config.PlatformConfig:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return config.load([path])


def problems(tmp_path: Path, values: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, values)
    return caught.value.message


def standard(names: Any, *, create: bool = True, **extra: Any) -> dict[str, Any]:
    pools = {"enabled": True, "namespaces": {"create": create, "names": names}, **extra}
    return {"global": {"features": {"namespacePools": pools}}}


def advanced(names: list[str], **deployments: Any) -> dict[str, Any]:
    return {
        "astronomer": {
            "houston": {
                "config": {"deployments": {"preCreatedNamespaces": [{"name": n} for n in names], **deployments}}
            },
            "commander": {"env": [{"name": "COMMANDER_MANUAL_NAMESPACE_NAMES", "value": True}]},
        }
    }


def merged(*trees: dict[str, Any]) -> dict[str, Any]:
    from airpool.config.files import merge

    out: dict[str, Any] = {}
    for tree in trees:
        out = merge(out, tree)
    return out


def test_standard_pool_implies_manual_names_and_hard_delete(tmp_path: Path) -> None:
    cfg = load(tmp_path, standard(["pool-a", "pool-b"]))
    assert cfg.pool == config.PoolSettings(
        names=("pool-a", "pool-b"), create_namespaces=True, create_rbac=True, source=PoolSource.STANDARD
    )
    assert cfg.deployments.manual_namespace_names is True
    assert cfg.deployments.hard_delete is True
    assert cfg.warnings == ()


def test_standard_pool_without_create_is_option_2_for_namespaces(tmp_path: Path) -> None:
    cfg = load(tmp_path, standard(["pool-a"], create=False, createRbac=False))
    assert cfg.pool is not None
    assert (cfg.pool.create_namespaces, cfg.pool.create_rbac) == (False, False)


def test_disabled_standard_pool_is_no_pool_even_with_names(tmp_path: Path) -> None:
    values = standard(["pool-a"])
    values["global"]["features"]["namespacePools"]["enabled"] = False
    cfg = load(tmp_path, values)
    assert cfg.pool is None
    assert cfg.deployments.manual_namespace_names is False
    assert cfg.deployments.hard_delete is False


def test_advanced_settings_alone_make_an_admin_managed_pool(tmp_path: Path) -> None:
    values = merged(
        advanced(["adv-1", "adv-2"], manualNamespaceNames=True, hardDeleteDeployment=True),
        {"global": {"manualNamespaceNamesEnabled": True, "clusterRoles": False}},
    )
    cfg = load(tmp_path, values)
    assert cfg.pool == config.PoolSettings(
        names=("adv-1", "adv-2"), create_namespaces=False, create_rbac=False, source=PoolSource.ADVANCED
    )
    assert cfg.deployments.hard_delete is True
    assert cfg.warnings == ()  # the guide's own advanced example is clean


def test_pool_enabled_with_no_names_is_an_error(tmp_path: Path) -> None:
    for names in ([], None):
        message = problems(tmp_path, standard(names))
        assert (
            "global.features.namespacePools.namespaces.names: the namespace pool is enabled but lists no namespaces;"
            " allowed: a list of one or more namespace names" in message
        )


def test_names_that_are_not_dns_1123_labels(tmp_path: Path) -> None:
    message = problems(tmp_path, standard(["Pool_A", "-x", "a" * 64, ""]))
    assert 'names[0]: "Pool_A" is not a valid namespace name: it must consist of lower case alphanumeric' in message
    assert 'names[1]: "-x" is not a valid namespace name' in message
    assert "names[2]: " in message
    assert "must be at most 63 characters (got 64)" in message
    assert 'names[3]: "" is not a valid namespace name: it must not be empty' in message


def test_duplicate_names_in_either_list(tmp_path: Path) -> None:
    message = problems(tmp_path, standard(["pool-a", "pool-b", "pool-a"]))
    assert (
        'global.features.namespacePools.namespaces.names[2]: "pool-a" is listed twice (also at '
        "global.features.namespacePools.namespaces.names[0]); each name may appear once" in message
    )
    message = problems(tmp_path, advanced(["adv", "adv"]))
    assert 'astronomer.houston.config.deployments.preCreatedNamespaces[1].name: "adv" is listed twice' in message


@pytest.mark.parametrize("name", ["kube-system", "kube-public", "kube-node-lease", "default", "astronomer"])
def test_reserved_names(tmp_path: Path, name: str) -> None:
    message = problems(tmp_path, standard(["pool-a", name]))
    assert f'names[1]: "{name}" is reserved and cannot be in the pool; reserved: astronomer, default,' in message


def test_the_configured_platform_namespace_is_reserved(tmp_path: Path) -> None:
    values = merged(standard(["platform", "astronomer"]), {"airpool": {"namespace": "platform"}})
    message = problems(tmp_path, values)
    assert 'names[0]: "platform" is reserved' in message
    assert "astronomer" not in message.split("names[0]")[1].split("reserved:")[0]
    assert len([line for line in message.splitlines() if line.startswith("  - ")]) == 1  # astronomer is fine now


def test_malformed_advanced_entries(tmp_path: Path) -> None:
    values = {
        "astronomer": {
            "houston": {"config": {"deployments": {"preCreatedNamespaces": ["adv-1", {"name": 5}]}}},
            "commander": {"env": [{"name": "COMMANDER_MANUAL_NAMESPACE_NAMES", "value": "maybe"}, "X=1"]},
        }
    }
    message = problems(tmp_path, values)
    assert 'preCreatedNamespaces[0]: "adv-1" is a string; allowed: a mapping like {name: <namespace>}' in message
    assert (
        "preCreatedNamespaces[1].name: 5 is read by YAML as 5 (a number), not as text; "
        "allowed: a namespace name (string), so quote it" in message
    )
    assert 'astronomer.commander.env[0].value: "maybe" is a string; allowed: true or false' in message
    assert 'astronomer.commander.env[1]: "X=1" is a string; allowed: a mapping with name and value' in message


def test_mixed_settings_warn_and_advanced_wins(tmp_path: Path) -> None:
    cfg = load(tmp_path, merged(standard(["std-1", "std-2"]), advanced(["adv-1"])))
    assert cfg.pool is not None
    assert cfg.pool.names == ("adv-1",)
    assert cfg.pool.source is PoolSource.ADVANCED
    assert (cfg.pool.create_namespaces, cfg.pool.create_rbac) == (True, True)
    (warning,) = cfg.warnings
    assert warning.startswith(
        "standard settings (global.features.namespacePools.enabled: true) and advanced settings "
        "(astronomer.houston.config.deployments.preCreatedNamespaces, astronomer.commander.env "
        "COMMANDER_MANUAL_NAMESPACE_NAMES) are mixed; where both apply the advanced settings win, so the effective "
        "pool is adv-1 (from astronomer.houston.config.deployments.preCreatedNamespaces), not std-1, std-2"
    )


def test_mixed_settings_where_advanced_turns_manual_names_off(tmp_path: Path) -> None:
    values = merged(
        standard(["std-1"]), {"astronomer": {"houston": {"config": {"deployments": {"manualNamespaceNames": False}}}}}
    )
    cfg = load(tmp_path, values)
    assert cfg.pool is None
    assert any("manualNamespaceNames is false, so users cannot choose a namespace" in w for w in cfg.warnings)
    assert any(
        "are mixed; where both apply the advanced settings win, so no pool is in effect" in w for w in cfg.warnings
    )


def test_mixing_only_global_manual_flag_still_warns(tmp_path: Path) -> None:
    cfg = load(tmp_path, merged(standard(["std-1"]), {"global": {"manualNamespaceNamesEnabled": True}}))
    assert cfg.pool is not None
    assert cfg.pool.names == ("std-1",)
    assert len(cfg.warnings) == 1
    assert "(global.manualNamespaceNamesEnabled) are mixed" in cfg.warnings[0]
    assert "the effective pool is std-1 (from global.features.namespacePools.namespaces.names)" in cfg.warnings[0]


def test_soft_delete_with_a_pool_warns_about_the_retention_period(tmp_path: Path) -> None:
    values = merged(
        standard(["pool-a"]),
        {"astronomer": {"houston": {"config": {"deployments": {"hardDeleteDeployment": False}}}}},
        {"airpool": {"retentionDays": 9}},
    )
    cfg = load(tmp_path, values)
    assert cfg.deployments.hard_delete is False
    (warning,) = cfg.warnings
    assert warning.startswith("soft delete with a pool (astronomer.houston.config.deployments.hardDeleteDeployment")
    assert "only after airpool.retentionDays (9 days)" in warning


def test_advanced_pool_without_hard_delete_defaults_to_soft_and_warns(tmp_path: Path) -> None:
    cfg = load(tmp_path, advanced(["adv-1"], manualNamespaceNames=True))
    assert cfg.deployments.hard_delete is False
    assert [w for w in cfg.warnings if w.startswith("soft delete with a pool")]


def test_nfs_with_a_pool_and_no_cluster_roles_warns(tmp_path: Path) -> None:
    values = merged(
        standard(["pool-a"]),
        {"global": {"clusterRoles": False}},
        {"astronomer": {"houston": {"config": {"deployments": {"nfsMountDagDeployment": True}}}}},
    )
    cfg = load(tmp_path, values)
    (warning,) = cfg.warnings
    assert warning.startswith(
        "NFS DAG deploys (astronomer.houston.config.deployments.nfsMountDagDeployment: true) cannot work with a pool "
        "and global.clusterRoles: false: they need PersistentVolumes, which are cluster-scoped"
    )
    # with clusterRoles (the default) the same pool is fine
    values["global"]["clusterRoles"] = True
    assert load(tmp_path, values).warnings == ()


def test_cluster_roles_false_without_a_pool_warns(tmp_path: Path) -> None:
    cfg = load(tmp_path, {"global": {"clusterRoles": False}})
    (warning,) = cfg.warnings
    assert warning.startswith(
        "global.clusterRoles: false without a namespace pool: commander gets no ClusterRole, so it has no right to "
        "create namespaces"
    )


def test_commander_env_false_with_a_pool_is_ignored_with_a_warning(tmp_path: Path) -> None:
    values = merged(
        advanced(["adv-1"], manualNamespaceNames=True, hardDeleteDeployment=True),
    )
    values["astronomer"]["commander"]["env"] = [{"name": "COMMANDER_MANUAL_NAMESPACE_NAMES", "value": "false"}]
    cfg = load(tmp_path, values)
    assert cfg.pool is not None
    assert cfg.warnings == (
        "astronomer.commander.env COMMANDER_MANUAL_NAMESPACE_NAMES=false is ignored: with a pool, commander never "
        "creates namespaces.",
    )


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    values = merged(standard(["ok-1", "Bad", "ok-1", "default"]), {"global": {"rbacEnabled": "no"}})
    message = problems(tmp_path, values)
    assert message.startswith("invalid configuration (4 problems in ")
