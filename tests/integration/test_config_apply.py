"""``config render | kubectl apply``, ``config apply`` and ``config validate --kubeconfig`` against the real API server.

Commander's rights are proven with its own token: it creates a Secret, a Role and a Deployment in each pool
namespace and gets the API server's 403 outside. Pool names are unique per test because the cluster is shared by
the whole session; a test that must not grant the real commander anything uses its own release name.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import lightkube
import pytest
import yaml
from lightkube import ApiError
from lightkube.models.apps_v1 import DeploymentSpec
from lightkube.models.core_v1 import Container, PodSpec, PodTemplateSpec
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace, Secret
from lightkube.resources.rbac_authorization_v1 import Role

from airpool import devcluster
from tests.support import cli, guide_roles
from tests.support.cluster import unique_name

EXAMPLE = Path(__file__).parents[2] / "examples" / "values.yaml"


def values_file(
    tmp_path: Path, names: list[str], *, release: str = "astronomer", create: bool = True, **pools: Any
) -> Path:
    path = tmp_path / f"values-{len(list(tmp_path.iterdir()))}.yaml"
    pool = {"enabled": True, "namespaces": {"create": create, "names": names}, **pools}
    path.write_text(
        yaml.safe_dump({"global": {"features": {"namespacePools": pool}}, "airpool": {"releaseName": release}})
    )
    return path


def airpool(tmp_path: Path, *args: str) -> cli.Result:
    return cli.run(tmp_path / "cli.yaml", *args, timeout=120)


def kubectl(cluster: devcluster.ClusterInfo, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(cluster.admin_kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def exists(client: lightkube.Client, name: str) -> bool:
    try:
        client.get(Namespace, name)
    except ApiError as exc:
        if exc.status.code != 404:
            raise
        return False
    return True


def commander_works_in(client: lightkube.Client, namespace: str) -> None:
    """Commander's own identity creates the kinds a Deployment needs, including a Role it must hold itself."""
    name = unique_name("probe")
    client.create(Secret(metadata=ObjectMeta(name=name, namespace=namespace), stringData={"k": "v"}))
    client.create(
        Role(
            metadata=ObjectMeta(name=name, namespace=namespace),
            rules=[
                PolicyRule(apiGroups=[""], resources=["pods"], verbs=["create", "get", "list", "watch", "delete"]),
                PolicyRule(apiGroups=[""], resources=["pods/exec"], verbs=["create", "get"]),
                PolicyRule(apiGroups=[""], resources=["pods/log"], verbs=["get"]),
            ],
        )
    )
    labels = {"app": name}
    client.create(
        Deployment(
            metadata=ObjectMeta(name=name, namespace=namespace),
            spec=DeploymentSpec(
                replicas=0,
                selector=LabelSelector(matchLabels=labels),
                template=PodTemplateSpec(
                    metadata=ObjectMeta(labels=labels), spec=PodSpec(containers=[Container(name="c", image="busybox")])
                ),
            ),
        )
    )


def test_rendered_example_applies_with_kubectl_server_side(
    tmp_path: Path,
    dev_cluster: devcluster.ClusterInfo,
    admin_client: lightkube.Client,
    commander_client: lightkube.Client,
) -> None:
    rendered = airpool(tmp_path, "config", "render", "-f", str(EXAMPLE))
    assert rendered.code == 0, rendered.err
    applied = kubectl(dev_cluster, "apply", "--server-side", "-f", "-", stdin=rendered.out)
    assert applied.returncode == 0, applied.stderr
    assert "role.rbac.authorization.k8s.io/astronomer-commander serverside-applied" in applied.stdout
    for name in ("airflow-pool-1", "airflow-pool-2", "airflow-pool-3"):
        labels = admin_client.get(Namespace, name).metadata.labels
        assert labels["airpool.io/pool"] == "astronomer"
        assert labels["team"] == "data-platform"
        assert admin_client.get(Role, "astronomer-commander", namespace=name).rules
        commander_works_in(commander_client, name)


def test_apply_gives_commander_exactly_the_pool_and_is_idempotent(
    tmp_path: Path,
    dev_cluster: devcluster.ClusterInfo,
    admin_client: lightkube.Client,
    commander_client: lightkube.Client,
    namespace: str,
) -> None:
    names = [unique_name("pool") for _ in range(3)]
    values = values_file(tmp_path, names)
    first = airpool(tmp_path, "config", "apply", "-f", str(values), "--kubeconfig", str(dev_cluster.admin_kubeconfig))
    assert first.code == 0, first.err
    assert f"namespace/{names[0]} created" in first.out
    assert f"role/astronomer-commander -n {names[2]} created" in first.out
    for name in names:
        commander_works_in(commander_client, name)
    with pytest.raises(ApiError) as refused:
        commander_client.create(Secret(metadata=ObjectMeta(name="nope", namespace=namespace), stringData={"k": "v"}))
    assert refused.value.status.code == 403
    assert 'User "system:serviceaccount:astronomer:astronomer-commander" cannot create resource "secrets"' in (
        refused.value.status.message
    )

    second = airpool(tmp_path, "config", "apply", "-f", str(values), "--kubeconfig", str(dev_cluster.admin_kubeconfig))
    assert second.code == 0, second.err
    total = 1 + 3 + 1 + 3 * 2
    lines = second.out.strip().splitlines()
    assert lines[-1].startswith(f"{total} objects: 0 created, 0 changed, {total} unchanged (namespace/astronomer, ")
    assert lines[-1].endswith(f" and {total - 3} more)")
    # other tests of the session share release "astronomer", so only "left the pool" notes may precede it
    assert all("left the pool" in line for line in lines[:-1])


def test_apply_after_kubectl_takes_over_without_recreating(tmp_path: Path, dev_cluster: devcluster.ClusterInfo) -> None:
    names = [unique_name("pool")]
    values = values_file(tmp_path, names, release=unique_name("rel"))
    rendered = airpool(tmp_path, "config", "render", "-f", str(values))
    assert kubectl(dev_cluster, "apply", "--server-side", "-f", "-", stdin=rendered.out).returncode == 0
    applied = airpool(tmp_path, "config", "apply", "-f", str(values), "--kubeconfig", str(dev_cluster.admin_kubeconfig))
    assert applied.code == 0, applied.err
    assert " 0 created" in applied.out.splitlines()[-1]


def test_namespaces_that_leave_the_pool_are_kept_and_reported(
    tmp_path: Path, dev_cluster: devcluster.ClusterInfo, admin_client: lightkube.Client
) -> None:
    release = unique_name("rel")
    keep, leave = unique_name("pool"), unique_name("pool")
    admin = str(dev_cluster.admin_kubeconfig)
    assert (
        airpool(
            tmp_path,
            "config",
            "apply",
            "-f",
            str(values_file(tmp_path, [keep, leave], release=release)),
            "--kubeconfig",
            admin,
        ).code
        == 0
    )
    after = airpool(
        tmp_path, "config", "apply", "-f", str(values_file(tmp_path, [keep], release=release)), "--kubeconfig", admin
    )
    assert after.code == 0, after.err
    assert f"namespace {leave} left the pool and was NOT deleted" in after.out
    assert exists(admin_client, leave)
    assert admin_client.get(Namespace, leave).metadata.deletionTimestamp is None


def test_invalid_values_apply_nothing(
    tmp_path: Path, dev_cluster: devcluster.ClusterInfo, admin_client: lightkube.Client
) -> None:
    good = unique_name("pool")
    values = values_file(tmp_path, [good, "kube-system"], release=unique_name("rel"))
    result = airpool(tmp_path, "config", "apply", "-f", str(values), "--kubeconfig", str(dev_cluster.admin_kubeconfig))
    assert result.code == 1
    assert '"kube-system" is reserved' in result.err
    assert "Traceback" not in result.err
    assert not exists(admin_client, good)


def test_a_refused_apply_changes_nothing(
    tmp_path: Path, dev_cluster: devcluster.ClusterInfo, admin_client: lightkube.Client
) -> None:
    """Commander's kubeconfig may not create namespaces: the dry run stops the apply before the first write."""
    names = [unique_name("pool"), unique_name("pool")]
    values = values_file(tmp_path, names, release=unique_name("rel"))
    result = airpool(
        tmp_path, "config", "apply", "-f", str(values), "--kubeconfig", str(dev_cluster.commander_kubeconfig)
    )
    assert result.code == 1
    assert result.err.startswith("Error: the API server refused: ") or "would refuse" in result.err, result.err
    assert "Traceback" not in result.err
    assert not any(exists(admin_client, name) for name in names)


def test_unreachable_api_server_is_a_clear_error(tmp_path: Path, dev_cluster: devcluster.ClusterInfo) -> None:
    kubeconfig = yaml.safe_load(dev_cluster.admin_kubeconfig.read_text())
    for entry in kubeconfig["clusters"]:
        entry["cluster"]["server"] = "https://127.0.0.1:1"
    broken = tmp_path / "broken-kubeconfig"
    broken.write_text(yaml.safe_dump(kubeconfig))
    result = airpool(tmp_path, "config", "apply", "-f", str(EXAMPLE), "--kubeconfig", str(broken))
    assert result.code == 1
    assert result.err.startswith("Error: cannot reach the API server")


# -- the admin creates the pool: a Role written by hand, as in Astronomer's guide --------------------------------


def option_2_manifest(namespace: str) -> str:
    """The guide's commander.yaml for one namespace: Namespace, the hand-written Role and its RoleBinding."""
    namespace_doc = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    return yaml.safe_dump_all([namespace_doc, guide_roles.role(namespace), guide_roles.role_binding(namespace)])


def test_validate_accepts_option_2_and_lists_what_its_role_lacks(
    tmp_path: Path, dev_cluster: devcluster.ClusterInfo, admin_client: lightkube.Client
) -> None:
    manual, missing, unbound = unique_name("manual"), unique_name("absent"), unique_name("unbound")
    assert kubectl(dev_cluster, "apply", "-f", "-", stdin=option_2_manifest(manual)).returncode == 0
    assert kubectl(dev_cluster, "create", "namespace", unbound).returncode == 0
    admin = str(dev_cluster.admin_kubeconfig)

    only_manual = values_file(tmp_path, [manual], create=False, createRbac=False)
    result = airpool(tmp_path, "config", "validate", "-f", str(only_manual), "--kubeconfig", admin)
    assert result.code == 0, result.err
    assert f"namespace {manual}: accepted, but Role deployment-commander-role grants" in result.out
    lacking = {line.strip()[2:] for line in result.out.splitlines() if line.startswith("  - ")}
    assert {"create pods/exec (core)", "get pods/log (core)", "create pods (core)", "patch pods (core)"} <= lacking
    assert "create secrets (core)" not in lacking
    assert "create roles (rbac.authorization.k8s.io)" not in lacking
    assert result.out.rstrip().endswith(
        "1 pool namespace(s) checked: 1 accepted but lacking permissions\nconfiguration is valid"
    )

    strict = airpool(tmp_path, "config", "validate", "-f", str(only_manual), "--kubeconfig", admin, "--strict")
    assert strict.code == 1

    everything = values_file(tmp_path, [manual, missing, unbound], create=False, createRbac=False)
    result = airpool(tmp_path, "config", "validate", "-f", str(everything), "--kubeconfig", admin)
    assert result.code == 1
    assert f"namespace {missing}: MISSING (it does not exist in the cluster)" in result.out
    assert f"namespace {unbound}: NOT USABLE (no Role or ClusterRole bound to service account " in result.out
    # one line counts them, for a pool of thousands whose lines scroll away
    assert "3 pool namespace(s) checked: 1 accepted but lacking permissions, 1 MISSING, 1 NOT USABLE\n" in result.out
    assert not exists(admin_client, missing)  # validate never creates anything


def test_validate_reports_a_fully_applied_pool_as_ok(tmp_path: Path, dev_cluster: devcluster.ClusterInfo) -> None:
    names = [unique_name("pool")]
    values = values_file(tmp_path, names)
    admin = str(dev_cluster.admin_kubeconfig)
    assert airpool(tmp_path, "config", "apply", "-f", str(values), "--kubeconfig", admin).code == 0
    result = airpool(tmp_path, "config", "validate", "-f", str(values), "--kubeconfig", admin, "--strict")
    assert result.code == 0, result.out + result.err
    assert f"namespace {names[0]}: ok (Role astronomer-commander)" in result.out
    assert "1 pool namespace(s) checked: 1 ok\nconfiguration is valid" in result.out


def test_switching_to_a_pool_removes_the_cluster_wide_rights_airpool_granted_before(
    tmp_path: Path, dev_cluster: devcluster.ClusterInfo, admin_client: lightkube.Client
) -> None:
    """Issue 11, part 8: after no pool -> pool, commander could still list Secrets cluster-wide and neither
    ``apply`` nor ``validate --kubeconfig`` said so. A ClusterRoleBinding that is not airpool's is reported, never
    deleted."""
    from lightkube.models.meta_v1 import ObjectMeta as Meta
    from lightkube.models.rbac_v1 import RoleRef, Subject
    from lightkube.resources.rbac_authorization_v1 import ClusterRole, ClusterRoleBinding

    release = unique_name("rel")
    admin = str(dev_cluster.admin_kubeconfig)
    no_pool = tmp_path / "no-pool.yaml"
    no_pool.write_text(yaml.safe_dump({"airpool": {"releaseName": release}}))
    assert airpool(tmp_path, "config", "apply", "-f", str(no_pool), "--kubeconfig", admin).code == 0
    name = f"{release}-commander"
    assert admin_client.get(ClusterRoleBinding, name).roleRef.name == name
    # Somebody else's binding to commander's account: reported, never touched.
    foreign = unique_name("foreign")
    admin_client.create(
        ClusterRoleBinding(
            metadata=Meta(name=foreign),
            roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io", kind="ClusterRole", name="view"),
            subjects=[Subject(kind="ServiceAccount", name=name, namespace="astronomer")],
        )
    )
    try:
        pooled = values_file(tmp_path, [unique_name("pool")], release=release)
        report = airpool(tmp_path, "config", "validate", "-f", str(pooled), "--kubeconfig", admin)
        assert f"cluster-wide: ClusterRoleBinding {name} (created by airpool) still grants commander rights" in (
            report.out
        )
        assert f"cluster-wide: ClusterRole {name} (created by airpool)" in report.out
        assert f"cluster-wide: ClusterRoleBinding {foreign} (not airpool's)" in report.out
        strict = airpool(tmp_path, "config", "validate", "-f", str(pooled), "--kubeconfig", admin, "--strict")
        assert strict.code == 1

        applied = airpool(tmp_path, "config", "apply", "-f", str(pooled), "--kubeconfig", admin)
        assert applied.code == 0, applied.err
        assert f"ClusterRoleBinding {name} deleted: this configuration no longer grants it" in applied.out
        assert f"ClusterRole {name} deleted" in applied.out
        for resource in (ClusterRoleBinding, ClusterRole):
            with pytest.raises(ApiError) as gone:
                admin_client.get(resource, name)
            assert gone.value.status.code == 404
        assert admin_client.get(ClusterRoleBinding, foreign).roleRef.name == "view"
        again = airpool(tmp_path, "config", "validate", "-f", str(pooled), "--kubeconfig", admin)
        assert "(created by airpool)" not in again.out
    finally:
        admin_client.delete(ClusterRoleBinding, foreign)
