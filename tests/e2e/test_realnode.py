"""The dev cluster's real node: real containers, Services, DNS, the API server from a pod, volumes, logs and exec
through the API server with a webhook-authorized kubelet, and a ``dev down`` that leaves the host as it was."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import lightkube
import pytest
import yaml
from lightkube import codecs
from lightkube.resources.core_v1 import (
    Node,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    Service,
    ServiceAccount,
)

from airpool import devcluster
from airpool.devcluster import cluster as devcluster_cluster
from airpool.devcluster import processes, realnode
from airpool.devcluster.realnode import host, network, paths
from airpool.devcluster.realnode import node as realnode_node
from tests.support import cluster as cluster_support
from tests.support import realnode as realnode_support
from tests.support.realnode import RealNodeCluster

AIRPOOL = str(Path(sys.executable).parent / "airpool")
POD_TIMEOUT = 300.0  # a loaded 2-core machine: sandbox, CNI, container start


@pytest.fixture(scope="module")
def test_image(real_node_cluster: RealNodeCluster, tmp_path_factory: pytest.TempPathFactory) -> str:
    return real_node_cluster.import_image(realnode_support.build_test_image(tmp_path_factory.mktemp("images")))


@pytest.fixture
def node_namespace(real_node_cluster: RealNodeCluster) -> Iterator[tuple[lightkube.Client, str]]:
    client = real_node_cluster.admin_client()
    with cluster_support.fresh_namespace(client, prefix="rn") as name:
        cluster_support.wait_for(
            lambda: cluster_support.exists(client, ServiceAccount, "default", name),
            timeout=120,
            what="the default ServiceAccount",
        )
        yield client, name


def _pod(name: str, image: str, command: list[str], *, pull: str = "Never", claim: str | None = None) -> Pod:
    container: dict[str, object] = {"name": "main", "image": image, "imagePullPolicy": pull, "command": command}
    spec: dict[str, object] = {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1, "containers": [container]}
    if claim is not None:
        container["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
        spec["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
    document = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}}, "spec": spec}
    pod = codecs.from_dict(document)
    assert isinstance(pod, Pod)
    return pod


def _phase(client: lightkube.Client, name: str, namespace: str) -> str:
    pod = client.get(Pod, name, namespace=namespace)
    return str(pod.status.phase) if pod.status else ""


def _wait_phase(client: lightkube.Client, name: str, namespace: str, phases: set[str]) -> str:
    cluster_support.wait_for(
        lambda: _phase(client, name, namespace) in phases | {"Failed"},
        timeout=POD_TIMEOUT,
        interval=0.5,
        what=f"pod {namespace}/{name} to reach {sorted(phases)}",
    )
    return _phase(client, name, namespace)


def _logs(client: lightkube.Client, name: str, namespace: str) -> str:
    return "\n".join(client.log(name, namespace=namespace))


def _kubectl(cluster: RealNodeCluster, *args: str) -> subprocess.CompletedProcess[str]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is installed by scripts/setup.sh"
    return subprocess.run(
        [kubectl, "--kubeconfig", str(cluster.info.admin_kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_pods_run_in_containers_and_reach_services_dns_and_the_api_server(
    real_node_cluster: RealNodeCluster, node_namespace: tuple[lightkube.Client, str], test_image: str
) -> None:
    client, ns = node_namespace
    client.create(_pod("web", test_image, ["httpd", "-f", "-p", "8080", "-h", "/www"]), namespace=ns)
    service = codecs.from_dict(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
        }
    )
    client.create(service, namespace=ns)
    assert _wait_phase(client, "web", ns, {"Running"}) == "Running"
    web = client.get(Pod, "web", namespace=ns)
    assert web.spec is not None
    assert web.spec.nodeName == realnode.NODE_NAME  # the fake nodes are tainted: pods run for real
    cluster_ip = client.get(Service, "web", namespace=ns).spec.clusterIP  # type: ignore[union-attr]

    token = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    review = '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}'
    script = f"""
    set -e
    echo "service: $(wget -q -O- http://web/)"
    nslookup web.{ns}.svc.cluster.local | grep -A2 'Name:' | sed 's/^/dns: /'
    wget -q -O- --header "Authorization: Bearer $(cat {token})" --header 'Content-Type: application/json' \\
      --post-data '{review}' https://kubernetes.default.svc/apis/authentication.k8s.io/v1/selfsubjectreviews
    echo
    """
    client.create(_pod("client", test_image, ["sh", "-c", script]), namespace=ns)
    phase = _wait_phase(client, "client", ns, {"Succeeded"})
    logs = _logs(client, "client", ns)  # read through the API server from the kubelet
    assert phase == "Succeeded", logs
    assert "service: hello from a real pod" in logs
    assert f"dns: Address: {cluster_ip}" in logs.replace("Address 1: ", "Address: ")
    # the pod's token, checked by the API server (its SelfSubjectReview answer names the pod's account)
    assert f'"username": "system:serviceaccount:{ns}:default"' in logs

    # exec and logs through the API server, which calls the kubelet with its own client certificate
    executed = _kubectl(real_node_cluster, "exec", "-n", ns, "web", "--", "cat", "/www/index.html")
    assert executed.returncode == 0, executed.stderr
    assert executed.stdout == "hello from a real pod\n"
    logged = _kubectl(real_node_cluster, "logs", "-n", ns, "client")
    assert logged.returncode == 0, logged.stderr
    assert "service: hello from a real pod" in logged.stdout
    assert _through_port_forward(real_node_cluster, ns) == "hello from a real pod\n"


def _through_port_forward(cluster: RealNodeCluster, ns: str) -> str:
    """GET / of pod web through `kubectl port-forward` (API server -> kubelet -> containerd), from the host."""
    kubectl = shutil.which("kubectl")
    assert kubectl
    forward = subprocess.Popen(
        [kubectl, "--kubeconfig", str(cluster.info.admin_kubeconfig), "port-forward", "-n", ns, "pod/web", ":8080"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert forward.stdout is not None
        line = forward.stdout.readline()  # "Forwarding from 127.0.0.1:PORT -> 8080"
        assert line.startswith("Forwarding from 127.0.0.1:"), line + (forward.stderr.read() if forward.stderr else "")
        port = int(line.split("127.0.0.1:", 1)[1].split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60) as response:
            return str(response.read().decode())
    finally:
        forward.terminate()
        forward.wait(timeout=30)


def _kubelet_status(token: str | None) -> int:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # only the answer matters here, not who serves it
    request = urllib.request.Request(f"https://{network.NODE_IP}:{network.KUBELET_PORT}/pods")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_kubelet_refuses_anonymous_and_unauthorized_requests(real_node_cluster: RealNodeCluster) -> None:
    assert _kubelet_status(None) == 401  # no anonymous access
    # commander's token is a real identity (TokenReview accepts it) without the right to the node's API
    config = yaml.safe_load(real_node_cluster.info.commander_kubeconfig.read_text())
    assert _kubelet_status(str(config["users"][0]["user"]["token"])) == 403


def test_a_claim_of_the_default_class_binds_and_a_pod_writes_to_it(
    real_node_cluster: RealNodeCluster, node_namespace: tuple[lightkube.Client, str], test_image: str
) -> None:
    client, ns = node_namespace
    claim = codecs.from_dict(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "16Mi"}}},
        }
    )
    client.create(claim, namespace=ns)
    command = ["sh", "-c", "echo kept-on-the-node > /data/file && cat /data/file"]
    client.create(_pod("writer", test_image, command, claim="data"), namespace=ns)
    phase = _wait_phase(client, "writer", ns, {"Succeeded"})
    assert phase == "Succeeded", _logs(client, "writer", ns)
    assert "kept-on-the-node" in _logs(client, "writer", ns)
    bound = client.get(PersistentVolumeClaim, "data", namespace=ns)
    assert bound.status is not None
    assert bound.status.phase == "Bound"
    assert bound.spec is not None
    assert bound.spec.storageClassName == "local-path"  # the default class, though the claim named none
    volume = client.get(PersistentVolume, str(bound.spec.volumeName))
    assert volume.spec is not None
    on_node = Path(str(volume.spec.hostPath.path if volume.spec.hostPath else volume.spec.local.path))  # type: ignore[union-attr]
    assert on_node.is_relative_to(real_node_cluster.info.data_dir / "node" / "storage")
    assert (on_node / "file").read_text() == "kept-on-the-node\n"

    client.delete(Pod, "writer", namespace=ns)
    cluster_support.wait_for(
        lambda: not cluster_support.exists(client, Pod, "writer", ns), timeout=POD_TIMEOUT, what="pod gone"
    )
    client.delete(PersistentVolumeClaim, "data", namespace=ns)
    volume_name = str(bound.spec.volumeName)
    cluster_support.wait_for(
        lambda: not on_node.exists() and not cluster_support.exists(client, PersistentVolume, volume_name),
        timeout=POD_TIMEOUT,
        interval=0.5,
        what="the provisioner to remove the volume and its directory",
    )


def test_a_missing_image_fails_at_once_and_nothing_is_pulled(
    node_namespace: tuple[lightkube.Client, str],
) -> None:
    client, ns = node_namespace
    client.create(_pod("missing", "docker.io/library/not-built-here:1", ["true"], pull="IfNotPresent"), namespace=ns)

    def waiting_message() -> str:
        status = client.get(Pod, "missing", namespace=ns).status
        for container in (status.containerStatuses or []) if status else []:
            if container.state and container.state.waiting and container.state.waiting.message:
                return str(container.state.waiting.message)
        return ""

    cluster_support.wait_for(lambda: bool(waiting_message()), timeout=POD_TIMEOUT, what="the pull to fail")
    assert "127.0.0.1:1" in waiting_message()  # the closed loopback endpoint every registry points at


def test_a_second_real_node_is_refused_and_a_non_root_user_is_told_why(
    real_node_cluster: RealNodeCluster, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    result = subprocess.run(
        [AIRPOOL, "dev", "up", "--real-node", "--data-dir", str(other)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    message = " ".join((result.stdout + result.stderr).split())
    assert f"A real node already runs on this machine, for the dev cluster in {real_node_cluster.info.data_dir}" in (
        message
    )
    assert not any(component.running for component in devcluster.status(other))
    assert host.owner_dir() == real_node_cluster.info.data_dir  # the running node was left alone

    # scripts/run.sh's `--nodes auto` says so and goes on with fake nodes
    auto = subprocess.run(
        [AIRPOOL, "dev", "up", "--nodes", "auto", "--timeout", "300", "--data-dir", str(other)],
        capture_output=True,
        text=True,
        timeout=420,
    )
    try:
        assert auto.returncode == 0, auto.stdout + auto.stderr
        assert "A real node already runs on this machine" in auto.stderr
        assert "Starting with fake nodes only." in auto.stderr
        assert not devcluster.info(other).real_node
        assert devcluster.info(other).server.startswith("https://127.0.0.1:")
    finally:
        subprocess.run([AIRPOOL, "dev", "down", "--data-dir", str(other)], capture_output=True, timeout=300)
    assert host.owner_dir() == real_node_cluster.info.data_dir

    # A process that is not root learns why it gets fake nodes only.
    probe = (
        "import os; from airpool.devcluster import realnode; os.setgid(65534); os.setuid(65534); "
        "print(realnode.explain(realnode.why_not() or 'none'))"
    )
    explained = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert explained.returncode == 0, explained.stderr
    assert explained.stdout.startswith(
        "This machine cannot run a real Kubernetes node: airpool runs as a user other than root"
    )
    assert "start it without --real-node" in explained.stdout


# --- dev up / dev down leave the host as it was ----------------------------------------------------------------------


def _iptables() -> dict[str, list[str]]:
    rules = {}
    for tool in ("iptables", "ip6tables"):
        for table in host.TABLES:
            listing = subprocess.run([tool, "-w", "-t", table, "-S"], capture_output=True, text=True, timeout=60)
            rules[f"{tool} {table}"] = listing.stdout.splitlines()
    return rules


def _our_processes(*dirs: Path) -> list[str]:
    markers = [str(directory) for directory in (*dirs, paths.RUN_DIR)]
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if any(marker in cmdline for marker in markers):
                    found.append(f"{entry.name}: {cmdline[:200]}")
    return found


def _snapshot(data_dir: Path, *dirs: Path) -> dict[str, object]:
    """What a node could leave behind. Mounts and links: only the kinds a node makes (other work on the machine,
    such as an image build's chroot, mounts and unmounts meanwhile)."""
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, timeout=60).stdout
    names = [line.split(":")[1].strip().split("@")[0] for line in links.splitlines()]
    roots = [data_dir, *dirs, paths.RUN_DIR, paths.CONTAINERD_ROOT, paths.KUBELET_ROOT, *map(Path, host.WATCHED_DIRS)]
    nsfs = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines() if " - nsfs " in line]
    return {
        "processes": _our_processes(data_dir, *dirs),
        "links": sorted(name for name in names if name == network.BRIDGE or name.startswith(("veth", "cni"))),
        "mounts": sorted(host.mounts_under(roots) + nsfs),
        "iptables": _iptables(),
        "sysctls": host.read_sysctls(),
        "pod cgroups": [str(path) for path in host.pod_cgroups()],
        "runtime dir": paths.RUN_DIR.exists(),
        "kubelet root": paths.KUBELET_ROOT.exists(),
        "fixed directories": [directory for directory in host.WATCHED_DIRS if Path(directory).exists()],
        "shim sockets": sorted(str(p) for p in paths.SHIM_SOCKETS.iterdir()) if paths.SHIM_SOCKETS.is_dir() else [],
        "CNI state": paths.CNI_STATE.exists(),
    }


def _clean_after_a_dead_node() -> None:
    """A node whose session ended abruptly (killed with everything else) leaves its bridge, veths and chains until
    the next ``up`` undoes them. Undo them the same way first, so that "the host as it was" means a clean host."""
    previous = host.owner()
    if previous and host.try_lock_free():
        realnode_node.clean(
            Path(str(previous.get("data_dir"))), saved=previous.get("sysctls"), absent=previous.get("absent_dirs")
        )


def _up_waiting(data_dir: Path, *dirs: Path) -> tuple[dict[str, object], subprocess.CompletedProcess[str]]:
    """``dev up --real-node``, waiting while another session holds the machine's node; the host snapshot taken just
    before the successful try (once the other node is gone)."""
    reason = realnode.why_not()
    if reason is not None:
        pytest.fail(realnode.explain(reason), pytrace=False)
    deadline = time.monotonic() + realnode_support.LOCK_WAIT
    while True:
        before = _snapshot(data_dir, *dirs)
        up = subprocess.run(
            [AIRPOOL, "dev", "up", "--real-node", "--timeout", str(realnode_support.START_TIMEOUT), "--data-dir",
             str(data_dir)],
            capture_output=True,
            text=True,
            timeout=realnode_support.START_TIMEOUT + 120,
        )  # fmt: skip
        if up.returncode == 0 or "A real node already runs" not in up.stderr or time.monotonic() > deadline:
            return before, up
        time.sleep(2.0)


def _run_a_container(data_dir: Path, images: Path) -> None:
    """A running pod makes the rest of the side effects: sandbox, network namespace, veth, mounts, cgroups."""
    cluster = devcluster.info(data_dir)
    client = lightkube.Client(config=lightkube.KubeConfig.from_file(str(cluster.admin_kubeconfig)), field_manager="t")
    image = realnode.import_image(realnode_support.build_test_image(images))
    cluster_support.wait_for(
        lambda: cluster_support.exists(client, ServiceAccount, "default", "default"),
        timeout=120,
        what="the default account",
    )
    client.create(_pod("sleeper", image, ["sleep", "3600"]), namespace="default")
    assert _wait_phase(client, "sleeper", "default", {"Running"}) == "Running"
    assert host.pod_cgroups()
    assert host.mounts_under([paths.RUN_DIR])


def _down(data_dir: Path) -> None:
    down = subprocess.run(
        [AIRPOOL, "dev", "down", "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=300
    )
    assert down.returncode == 0, down.stdout + down.stderr


def _assert_as_before(before: dict[str, object], data_dir: Path, *dirs: Path) -> None:
    after = _snapshot(data_dir, *dirs)
    deadline = time.monotonic() + realnode_support.LOCK_WAIT
    while after != before and host.owner_dir() not in (None, data_dir.resolve()) and time.monotonic() < deadline:
        time.sleep(2.0)  # another session's node started right after ours: compare once it is gone
        after = _snapshot(data_dir, *dirs)
    for key, value in before.items():
        assert after[key] == value, f"{key} changed by dev up/down"


@pytest.mark.realnode
def test_dev_up_and_down_with_a_real_node_leave_the_host_as_it_was(tmp_path: Path) -> None:
    data_dir = tmp_path / "cluster"
    _clean_after_a_dead_node()
    before, up = _up_waiting(data_dir)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "real node:" in up.stdout
        during = _snapshot(data_dir)
        assert network.BRIDGE in during["links"]  # type: ignore[operator]
        assert any("KUBE-FIREWALL" in rule for rule in during["iptables"]["iptables filter"])  # type: ignore[index]
        _run_a_container(data_dir, tmp_path)
    finally:
        _down(data_dir)
    _assert_as_before(before, data_dir)


@pytest.mark.realnode
def test_a_node_killed_without_dev_down_is_cleaned_up_by_the_next_up(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    _clean_after_a_dead_node()
    before, up = _up_waiting(first, second)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        _run_a_container(first, tmp_path)
    finally:
        # like a session that is killed: every process dies at once and nothing is undone
        layout = processes.Layout(run_dir=first / "run", log_dir=first / "logs")
        for name in (*devcluster_cluster.ORDER, *realnode_node.NAMES):
            if (pid := processes.recorded_pid(name, layout=layout)) is not None:
                os.kill(pid, signal.SIGKILL)
    cluster_support.wait_for(lambda: host.try_lock_free(), timeout=60, what="the killed kubelet to release the lock")
    assert host.bridge_exists()
    assert host.pod_cgroups()  # the container outlived its kubelet and containerd
    assert host.kube_chains()

    # (when another session's node takes the machine first, its `up` does this cleanup: the same code)
    _, again = _up_waiting(second, first)
    try:
        assert again.returncode == 0, again.stdout + again.stderr
        assert host.owner_dir() == second.resolve()
    finally:
        _down(second)
    _assert_as_before(before, second, first)


def test_kwok_leaves_the_real_node_alone(real_node_cluster: RealNodeCluster) -> None:
    client = real_node_cluster.admin_client()
    node = client.get(Node, realnode.NODE_NAME)
    assert node.status is not None
    assert node.status.nodeInfo.kubeletVersion.startswith("v1.34.")  # type: ignore[union-attr]  # the kubelet's own
    assert node.status.nodeInfo.containerRuntimeVersion.startswith("containerd://")  # type: ignore[union-attr]
    assert "kwok.x-k8s.io/node" not in (node.metadata.annotations or {})  # type: ignore[union-attr]
    fake = client.get(Node, "kwok-node-0")
    assert fake.spec is not None
    assert [(t.key, t.effect) for t in fake.spec.taints or []] == [("airpool.io/fake-node", "NoSchedule")]
