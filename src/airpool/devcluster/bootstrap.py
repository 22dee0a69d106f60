"""What a fresh control plane needs before airpool can use it: commander's identity and fake nodes for pods.

Everything here is idempotent (``dev up`` on a data directory that already holds a cluster converges to the same
objects) and talks to the API server as admin, through ``airpool.kube.client``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from lightkube import ApiError, Client
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.core_v1 import NodeSpec, NodeStatus, NodeSystemInfo
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Node, ServiceAccount
from lightkube.types import PatchType

from airpool.devcluster import errors

PLATFORM_NAMESPACE = "astronomer"
COMMANDER_SERVICE_ACCOUNT = "astronomer-commander"
COMMANDER_USER = f"system:serviceaccount:{PLATFORM_NAMESPACE}:{COMMANDER_SERVICE_ACCOUNT}"
TOKEN_SECONDS = 30 * 24 * 3600  # long enough for any dev session; dev up mints a fresh one each time
NODE_COUNT = 2
FAKE_NODE_ANNOTATION = "kwok.x-k8s.io/node"


@contextlib.contextmanager
def _exists_ok() -> Iterator[None]:
    """Creating what already exists (a second ``dev up`` on the same data) is success."""
    try:
        yield
    except ApiError as exc:
        if exc.status.code != 409:
            raise


def commander_token(client: Client) -> str:
    """Ensure namespace ``astronomer`` and its ServiceAccount, and mint a token for it with TokenRequest."""
    with _exists_ok():
        client.create(Namespace(metadata=ObjectMeta(name=PLATFORM_NAMESPACE)))
    with _exists_ok():
        client.create(ServiceAccount(metadata=ObjectMeta(name=COMMANDER_SERVICE_ACCOUNT)), namespace=PLATFORM_NAMESPACE)
    # TokenRequest is the ServiceAccount's "token" subresource; empty audiences mean the API server's own.
    request = ServiceAccount.Token(
        metadata=ObjectMeta(), spec=TokenRequestSpec(audiences=[], expirationSeconds=TOKEN_SECONDS)
    )
    response = client.create(request, name=COMMANDER_SERVICE_ACCOUNT, namespace=PLATFORM_NAMESPACE)
    token = response.status.token if response.status else None
    if not token:
        raise errors.DevClusterError(
            "The API server answered the TokenRequest for astronomer-commander without a token."
        )
    return str(token)


def node_names() -> list[str]:
    return [f"kwok-node-{index}" for index in range(NODE_COUNT)]


FAKE_NODE_TAINT = "airpool.io/fake-node"


def fake_nodes(client: Client, *, tainted: bool = False) -> None:
    """Create the Nodes kwok plays the kubelet for (generous capacity).

    ``tainted`` (beside a real node): the fake nodes carry the NoSchedule taint ``airpool.io/fake-node``, so that
    pods run for real unless they tolerate it; without a real node they have no taint.
    """
    capacity = {"cpu": "32", "memory": "256Gi", "pods": "110"}
    for name in node_names():
        node = Node(
            metadata=ObjectMeta(
                name=name,
                annotations={FAKE_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
                labels={
                    "type": "kwok",
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                },
            ),
            spec=NodeSpec(),
            status=NodeStatus(
                allocatable=capacity,
                capacity=capacity,
                nodeInfo=NodeSystemInfo(
                    architecture="amd64",
                    bootID="",
                    containerRuntimeVersion="kwok",
                    kernelVersion="kwok",
                    kubeProxyVersion="fake",
                    kubeletVersion="fake",
                    machineID="",
                    operatingSystem="linux",
                    osImage="kwok",
                    systemUUID="",
                ),
            ),
        )
        with _exists_ok():
            client.create(node)
        taints = [{"key": FAKE_NODE_TAINT, "value": "true", "effect": "NoSchedule"}] if tainted else None
        client.patch(Node, name, {"spec": {"taints": taints}}, patch_type=PatchType.MERGE)


def _schedulable(node: Node) -> bool:
    """Ready per kwok, and no taint left from before that (the node lifecycle controller removes it)."""
    status, spec = node.status, node.spec
    ready = status is not None and any(c.type == "Ready" and c.status == "True" for c in status.conditions or [])
    tainted = spec is not None and any(
        t.effect in {"NoSchedule", "NoExecute"} and t.key != FAKE_NODE_TAINT for t in spec.taints or []
    )
    return ready and not tainted


def _controllers_running(client: Client) -> bool:
    """The ``default`` ServiceAccount exists once kube-controller-manager's controllers run; pods need it."""
    try:
        client.get(ServiceAccount, "default", namespace="default")
    except ApiError as exc:
        if exc.status.code == 404:
            return False
        raise
    return True


def wait_ready(client: Client, *, deadline: float) -> None:
    """Return once a Deployment created now would run at once: controllers running, every fake node schedulable.

    Without this the first Deployment after ``dev up`` waits seconds for the controllers and for the scheduler's
    back-off on a node that was still tainted not-ready.
    """
    wanted = set(node_names())
    while True:
        schedulable = {node.metadata.name for node in client.list(Node) if node.metadata and _schedulable(node)}
        controllers = _controllers_running(client)
        if wanted <= schedulable and controllers:
            return
        if time.monotonic() > deadline:
            missing = ", ".join(sorted(wanted - schedulable))
            if missing:
                problem = f"kwok did not make the fake node(s) {missing} Ready and untainted in time (logs/kwok.log)"
            else:
                problem = (
                    "kube-controller-manager did not start its controllers in time (logs/kube-controller-manager.log)"
                )
            raise errors.DevClusterError(f"{problem}; nothing is left running.")
        time.sleep(0.05)
