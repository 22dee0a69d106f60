"""What ``config render`` produces for each kind of configuration, and that it is byte-for-byte stable."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from typer.testing import CliRunner

from airpool import config
from airpool.cli.main import app
from airpool.config import PoolSettings, PoolSource
from airpool.manifests import pool, rbac

EXAMPLE = Path(__file__).parents[2] / "examples" / "values.yaml"


def kinds(objects: list[dict[str, object]]) -> list[tuple[str, str, str | None]]:
    out = []
    for obj in objects:
        meta = obj["metadata"]
        assert isinstance(meta, dict)
        out.append((str(obj["kind"]), meta["name"], meta.get("namespace")))
    return out


def with_pool(names: tuple[str, ...], *, create: bool = True, rbac_on: bool = True) -> config.PlatformConfig:
    return dataclasses.replace(
        config.PlatformConfig(),
        pool=PoolSettings(names=names, create_namespaces=create, create_rbac=rbac_on, source=PoolSource.STANDARD),
        namespace_labels=(("team", "data"),),
    )


def test_standard_pool_renders_namespaces_identity_and_a_role_per_namespace() -> None:
    objects = pool.render(with_pool(("p-1", "p-2")))
    assert kinds(objects) == [
        ("Namespace", "astronomer", None),
        ("Namespace", "p-1", None),
        ("Namespace", "p-2", None),
        ("ServiceAccount", "astronomer-commander", "astronomer"),
        ("Role", "astronomer-commander", "p-1"),
        ("RoleBinding", "astronomer-commander", "p-1"),
        ("Role", "astronomer-commander", "p-2"),
        ("RoleBinding", "astronomer-commander", "p-2"),
    ]
    assert objects[1]["metadata"]["labels"] == {
        "team": "data",
        "app.kubernetes.io/managed-by": "airpool",
        "airpool.io/platform-release": "astronomer",
        "airpool.io/pool": "astronomer",
    }
    assert objects[0]["metadata"] == {"name": "astronomer"}  # shared with others: airpool claims only its name
    role, binding = objects[4], objects[5]
    assert role["rules"] == [rule.as_dict() for rule in rbac.COMMANDER_NAMESPACE_RULES]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "astronomer-commander",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "astronomer-commander", "namespace": "astronomer"}
    ]


def test_pool_with_cluster_roles_gets_no_cluster_role_unless_nfs_and_then_only_persistentvolumes() -> None:
    cfg = with_pool(("p-1",))
    assert not [k for k in kinds(pool.render(cfg)) if k[0].startswith("Cluster")]
    nfs = dataclasses.replace(cfg, deployments=dataclasses.replace(cfg.deployments, nfs_dag_deploys=True))
    cluster = [obj for obj in pool.render(nfs) if obj["kind"] == "ClusterRole"]
    assert len(cluster) == 1
    resources = {res for rule in cluster[0]["rules"] for res in rule["resources"]}
    assert resources == {"persistentvolumes"}


def test_pool_with_nfs_but_cluster_roles_off_has_no_cluster_rbac() -> None:
    cfg = with_pool(("p-1",))
    cfg = dataclasses.replace(
        cfg, cluster_roles=False, deployments=dataclasses.replace(cfg.deployments, nfs_dag_deploys=True)
    )
    assert not [k for k in kinds(pool.render(cfg)) if k[0].startswith("Cluster")]


def test_no_pool_with_cluster_roles_gets_one_cluster_role_with_namespace_lifecycle() -> None:
    objects = pool.render(config.PlatformConfig())
    assert kinds(objects) == [
        ("Namespace", "astronomer", None),
        ("ServiceAccount", "astronomer-commander", "astronomer"),
        ("ClusterRole", "astronomer-commander", None),
        ("ClusterRoleBinding", "astronomer-commander", None),
    ]
    rules = [rbac.PolicyRule.from_dict(rule) for rule in objects[2]["rules"]]
    granted = [rule for rule in rules if rule is not None]
    assert rbac.missing(rbac.expand(rbac.COMMANDER_NAMESPACE_RULES + rbac.NAMESPACE_LIFECYCLE_RULES), granted) == ()


def test_no_pool_and_no_cluster_roles_renders_no_rbac() -> None:
    cfg = dataclasses.replace(config.PlatformConfig(), cluster_roles=False)
    assert [k[0] for k in kinds(pool.render(cfg))] == ["Namespace", "ServiceAccount"]


def test_rbac_disabled_renders_no_rbac_objects_at_all() -> None:
    cfg = dataclasses.replace(with_pool(("p-1",)), rbac_enabled=False)
    assert [k[0] for k in kinds(pool.render(cfg))] == ["Namespace", "Namespace", "ServiceAccount"]


def test_admin_created_namespaces_and_rbac_are_not_rendered() -> None:
    assert [k[0] for k in kinds(pool.render(with_pool(("p-1",), create=False, rbac_on=False)))] == [
        "Namespace",
        "ServiceAccount",
    ]
    assert [k[0] for k in kinds(pool.render(with_pool(("p-1",), create=False)))] == [
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
    ]


def test_render_command_is_deterministic_yaml_on_stdout(tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["config", "render", "-f", str(EXAMPLE)])
    second = runner.invoke(app, ["config", "render", "-f", str(EXAMPLE)])
    assert first.exit_code == 0, first.output
    assert first.stdout == second.stdout
    assert first.stdout.startswith("---\napiVersion: v1\nkind: Namespace\n")
    assert first.stdout.count("\n---\n") + 1 == 1 + 3 + 1 + 3 * 2
    import yaml

    docs = list(yaml.safe_load_all(first.stdout))
    assert docs == pool.render(config.load([EXAMPLE]))


def test_render_of_an_invalid_file_prints_nothing_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("global: {features: {namespacePools: {enabled: true, namespaces: {names: [kube-system]}}}}\n")
    result = CliRunner().invoke(app, ["config", "render", "-f", str(bad)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert '"kube-system" is reserved' in result.stderr
