"""The dev cluster is a real, RBAC-enforcing control plane: commander's minted token gets the API server's own 403s,
and kwok's fake nodes run the pods of a Deployment."""

from __future__ import annotations

from collections.abc import Iterator

import lightkube
import pytest
from lightkube.models.apps_v1 import DeploymentSpec
from lightkube.models.core_v1 import Container, PodSpec, PodTemplateSpec
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule, RoleRef, Subject
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace, Node, Pod, Secret
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding

from airpool import devcluster
from tests.support import cluster as cluster_support

COMMANDER_403 = (
    'secrets is forbidden: User "system:serviceaccount:astronomer:astronomer-commander" cannot create resource '
    '"secrets" in API group "" in the namespace "pool-b"'
)


@pytest.fixture
def pools(admin_client: lightkube.Client) -> Iterator[list[str]]:
    """Namespaces pool-a and pool-b (the names the issue fixes), with a Role for Secrets bound in pool-a only."""
    for name in ("pool-a", "pool-b"):
        admin_client.create(Namespace(metadata=ObjectMeta(name=name)))
    admin_client.create(
        Role(
            metadata=ObjectMeta(name="secrets-writer"),
            rules=[PolicyRule(apiGroups=[""], resources=["secrets"], verbs=["create"])],
        ),
        namespace="pool-a",
    )
    admin_client.create(
        RoleBinding(
            metadata=ObjectMeta(name="commander-secrets-writer"),
            roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io", kind="Role", name="secrets-writer"),
            subjects=[Subject(kind="ServiceAccount", name="astronomer-commander", namespace="astronomer")],
        ),
        namespace="pool-a",
    )
    yield ["pool-a", "pool-b"]
    for name in ("pool-a", "pool-b"):
        admin_client.delete(Namespace, name)
    # Fixed names: wait until they are really gone, so that any later test of the session may use them again.
    cluster_support.wait_for(
        lambda: (
            not [ns for ns in admin_client.list(Namespace) if ns.metadata and ns.metadata.name in {"pool-a", "pool-b"}]
        ),
        timeout=60,
        what="namespaces pool-a and pool-b to be deleted",
    )


def _secret(name: str) -> Secret:
    return Secret(metadata=ObjectMeta(name=name), stringData={"k": "v"})


def test_commander_token_is_authorized_by_rbac(commander_client: lightkube.Client, pools: list[str]) -> None:
    created = commander_client.create(_secret("allowed"), namespace="pool-a")
    assert created.metadata is not None
    assert created.metadata.namespace == "pool-a"

    with pytest.raises(lightkube.ApiError) as denied:
        commander_client.create(_secret("denied"), namespace="pool-b")
    assert denied.value.status.code == 403
    assert denied.value.status.message == COMMANDER_403


def test_commander_kubeconfig_carries_a_service_account_token(dev_cluster: devcluster.ClusterInfo) -> None:
    text = dev_cluster.commander_kubeconfig.read_text()
    assert "token: " in text
    assert "client-key-data" not in text


def test_deployment_pods_turn_ready_on_kwok_nodes(admin_client: lightkube.Client, namespace: str) -> None:
    labels = {"app": "probe"}
    admin_client.create(
        Deployment(
            metadata=ObjectMeta(name="probe"),
            spec=DeploymentSpec(
                replicas=2,
                selector=LabelSelector(matchLabels=labels),
                template=PodTemplateSpec(
                    metadata=ObjectMeta(labels=labels),
                    spec=PodSpec(containers=[Container(name="main", image="registry.invalid/none:1")]),
                ),
            ),
        ),
        namespace=namespace,
    )

    def two_ready() -> bool:
        status = admin_client.get(Deployment, "probe", namespace=namespace).status
        return status is not None and status.readyReplicas == 2

    cluster_support.wait_for(two_ready, timeout=60, what="2 ready replicas of Deployment probe")
    pods = list(admin_client.list(Pod, namespace=namespace, labels={"app": "probe"}))
    fake_nodes = {node.metadata.name for node in admin_client.list(Node) if node.metadata}
    assert len(pods) == 2
    for pod in pods:
        assert pod.status is not None
        assert pod.status.phase == "Running"
        assert pod.spec is not None
        assert pod.spec.nodeName in fake_nodes
