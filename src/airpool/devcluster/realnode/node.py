"""Start and stop the real node of one dev cluster; the control plane (``cluster.py``) calls these.

Order at start: machine lock, leftovers of a crashed node cleaned, sysctls recorded, egress guard, bridge (the API
server listens on the bridge address, so this comes before it); after the API server is ready: containerd (and
the node's images imported), the cluster objects the node needs (RBAC for the API server's kubelet client,
CoreDNS and the volume provisioner; the ``kube-dns`` Service; the default StorageClass), then kubelet, kube-proxy,
CoreDNS and the provisioner; ``wait_ready`` returns once the node is Ready and DNS answers.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from lightkube import ApiError, Client, codecs
from lightkube.resources.core_v1 import Node

from airpool.devcluster import binaries, errors, kubeconfig, pki, processes
from airpool.devcluster.images import node as node_images
from airpool.devcluster.images import oci
from airpool.devcluster.realnode import configs, host, network, paths

NAMES = ("containerd", "kubelet", "kube-proxy", "coredns", "local-path-provisioner")
PORTS = ("kubelet-healthz", "kube-proxy-healthz", "kube-proxy-metrics", "coredns-health", "coredns-ready")
FIELD_MANAGER = "airpool-devcluster"
STORAGE_NAMESPACE = "local-path-storage"
STORAGE_CLASS = "local-path"
PROVISIONER_SERVICE_ACCOUNT = "local-path-provisioner-service-account"
REAL_NODE_LABEL = "airpool.io/real-node"
REQUIRED_COMMANDS = ("containerd", "containerd-shim-runc-v2", "runc", "ctr", "ip", "iptables", "ip6tables", "conntrack")
CNI_PLUGINS = ("bridge", "host-local", "loopback")


class NodeBusy(errors.DevClusterError):
    """Another dev cluster's real node runs on this machine."""


def node_dir(data_dir: Path) -> Path:
    return data_dir / "node"


# --- can this machine run containers? -------------------------------------------------------------------------------


def _runc_works() -> str | None:
    """Run a container that exits at once; None when it worked, else what went wrong."""
    with tempfile.TemporaryDirectory(prefix="airpool-runc-") as tmp:
        bundle = Path(tmp)
        rootfs = bundle / "rootfs"
        (rootfs / "bin").mkdir(parents=True)
        shutil.copy2(node_images.BUSYBOX, rootfs / "bin" / "busybox")
        spec = subprocess.run(["runc", "spec", "--bundle", str(bundle)], capture_output=True, text=True, timeout=30)
        if spec.returncode != 0:
            return f"`runc spec` failed: {spec.stderr.strip()}"
        config = json.loads((bundle / "config.json").read_text())
        config["process"]["terminal"] = False
        config["process"]["args"] = ["/bin/busybox", "true"]
        config["root"]["readonly"] = True
        (bundle / "config.json").write_text(json.dumps(config))
        name = f"airpool-check-{os.getpid()}"
        try:
            run = subprocess.run(
                ["runc", "--root", str(bundle / "state"), "run", "--bundle", str(bundle), name],
                capture_output=True,
                text=True,
                timeout=60,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return "runc did not finish a trivial container within 60 s"
        finally:
            subprocess.run(
                ["runc", "--root", str(bundle / "state"), "delete", "--force", name], capture_output=True, timeout=30
            )
        if run.returncode != 0:
            return f"runc could not start a container: {(run.stderr or run.stdout).strip()}"
    return None


def why_not() -> str | None:
    """None when this machine can run the real node, else the reason (one sentence)."""
    if os.geteuid() != 0:
        return "airpool runs as a user other than root, and containerd, runc and the kubelet need root"
    absent = [command for command in REQUIRED_COMMANDS if shutil.which(command) is None]
    absent += [f"/usr/lib/cni/{plugin}" for plugin in CNI_PLUGINS if not Path("/usr/lib/cni", plugin).is_file()]
    if not node_images.BUSYBOX.is_file():
        absent.append(str(node_images.BUSYBOX))
    if absent:
        return f"{', '.join(absent)} {'is' if len(absent) == 1 else 'are'} not installed (scripts/setup.sh does it)"
    programs = [path.name for path in binaries.missing(real_node=True)]
    if programs:
        return f"{', '.join(programs)} {'is' if len(programs) == 1 else 'are'} not built yet (`airpool dev build`)"
    return _runc_works()


def explain(reason: str) -> str:
    return (
        f"This machine cannot run a real Kubernetes node: {reason}. A real node runs containers with containerd "
        "and runc beside the local control plane; it needs root, the Debian packages containerd, runc, "
        "containernetworking-plugins, iptables, conntrack and busybox-static (scripts/setup.sh installs them), "
        "the node programs (`airpool dev build` builds them), and a kernel that lets runc create namespaces and "
        "cgroups. Without it the dev cluster still works with kwok's fake nodes, where pods turn Running without "
        "any container: start it without --real-node."
    )


# --- the machine lock and the host --------------------------------------------------------------------------------


def acquire(data_dir: Path) -> int:
    """Take the machine lock for ``data_dir``'s cluster and prepare the host; return the lock descriptor.

    The kubelet inherits the descriptor: the lock is held exactly while the node's kubelet lives.
    """
    fd = host.try_lock()
    if fd is None:
        holder = host.owner()
        where = holder.get("data_dir", "an unknown data directory")
        raise NodeBusy(
            f"A real node already runs on this machine, for the dev cluster in {where} (started "
            f"{holder.get('started', 'at an unknown time')}). Only one real node fits on a machine: its bridge "
            f"{network.BRIDGE}, its address range and kube-proxy's iptables chains exist once. Stop it with "
            f"`airpool dev down --data-dir {where}`, or start this cluster without --real-node (fake nodes only)."
        )
    try:
        previous = host.owner()
        if previous:  # a node whose kubelet died without dev down: undo what it left, then start afresh
            clean(
                Path(str(previous.get("data_dir", data_dir))),
                saved=previous.get("sysctls"),
                absent=previous.get("absent_dirs"),
            )
        else:
            clean(data_dir, saved=None)
        paths.RUN_DIR.mkdir(parents=True, exist_ok=True)
        host.write_owner(data_dir, sysctls=host.read_sysctls())
        host.add_guard()  # first: nothing of the pod or Service range may leave, from the very start
        host.create_bridge()
    except BaseException:
        os.close(fd)
        raise
    return fd


def owns(data_dir: Path) -> bool:
    return host.owner_dir() == data_dir.resolve()


# --- processes ------------------------------------------------------------------------------------------------------


def health_urls(ports: dict[str, int]) -> dict[str, str]:
    def port(key: str) -> int:
        return ports.get(key, 0)

    return {
        "containerd": f"unix://{paths.CONTAINERD_SOCKET}",
        "kubelet": f"http://127.0.0.1:{port('kubelet-healthz')}/healthz",
        "kube-proxy": f"http://127.0.0.1:{port('kube-proxy-healthz')}/healthz",
        "coredns": f"http://127.0.0.1:{port('coredns-ready')}/ready",
        "local-path-provisioner": "alive:",
    }


def probe_unix(url: str) -> bool:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(url.removeprefix("unix://"))
        except OSError:
            return False
    return True


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def containerd_spec(data_dir: Path) -> processes.Spec:
    directory = node_dir(data_dir)
    registry = directory / "registry"
    _write(registry / "_default" / "hosts.toml", configs.registry_hosts_toml())
    cni = directory / "cni"
    _write(cni / "10-airpool.conflist", configs.cni_conflist())
    config = _write(
        directory / "containerd.toml",
        configs.containerd_toml(sandbox_image=node_images.pause_reference(), cni_conf_dir=cni, registry_dir=registry),
    )
    paths.CONTAINERD_ROOT.mkdir(parents=True, exist_ok=True)
    return processes.Spec(
        name="containerd",
        argv=[shutil.which("containerd") or "containerd", "--config", str(config), "--log-level", "warn"],
        health_url=health_urls({})["containerd"],
    )


def node_specs(data_dir: Path, *, ports: dict[str, int], keys: pki.Pki, server: str) -> list[processes.Spec]:
    """kubelet, kube-proxy, CoreDNS and the volume provisioner, each with its own identity."""
    directory = node_dir(data_dir)
    urls = health_urls(ports)
    identities = {
        "kubelet": "kubelet-client",
        "kube-proxy": "kube-proxy",
        "coredns": "coredns",
        "local-path-provisioner": "local-path-provisioner",
    }
    kubeconfigs = {}
    for name, cert in identities.items():
        kubeconfigs[name] = kubeconfig.write(
            directory / f"{name}.kubeconfig",
            server=server,
            ca_cert=keys.ca_cert,
            user=pki.CLIENTS[cert][0],
            client_cert=keys.cert(cert),
            client_key=keys.key(cert),
        )
    kubelet_config = _write(
        directory / "kubelet.yaml",
        configs.kubelet_config(
            node_dir=directory,
            ca_cert=keys.ca_cert,
            serving_cert=keys.cert("kubelet-serving"),
            serving_key=keys.key("kubelet-serving"),
            healthz_port=ports["kubelet-healthz"],
        ),
    )
    proxy_config = _write(
        directory / "kube-proxy.yaml",
        configs.kube_proxy_config(
            kubeconfig=kubeconfigs["kube-proxy"],
            healthz_port=ports["kube-proxy-healthz"],
            metrics_port=ports["kube-proxy-metrics"],
        ),
    )
    corefile = _write(
        directory / "Corefile",
        configs.corefile(
            kubeconfig=kubeconfigs["coredns"], health_port=ports["coredns-health"], ready_port=ports["coredns-ready"]
        ),
    )
    storage = directory / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    provisioner_config = _write(
        directory / "local-path-config.json",
        json.dumps({"nodePathMap": [{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": [str(storage)]}]}),
    )
    helper_pod = _write(directory / "local-path-helper-pod.yaml", _helper_pod_yaml())
    kube = binaries.KUBERNETES_NODE
    return [
        processes.Spec(
            name="kubelet",
            argv=[
                str(kube.binary("kubelet")),
                f"--config={kubelet_config}",
                f"--kubeconfig={kubeconfigs['kubelet']}",
                f"--root-dir={paths.KUBELET_ROOT}",
                f"--cert-dir={paths.KUBELET_ROOT / 'pki'}",
                f"--hostname-override={network.NODE_NAME}",
                f"--node-ip={network.NODE_IP}",
                f"--node-labels={REAL_NODE_LABEL}=true",
                "--v=1",
            ],
            health_url=urls["kubelet"],
        ),
        processes.Spec(
            name="kube-proxy",
            argv=[str(kube.binary("kube-proxy")), f"--config={proxy_config}", "--v=1"],
            health_url=urls["kube-proxy"],
        ),
        processes.Spec(
            name="coredns",
            argv=[str(binaries.COREDNS.binary("coredns")), "-conf", str(corefile)],
            health_url=urls["coredns"],
        ),
        processes.Spec(
            name="local-path-provisioner",
            argv=[
                str(binaries.LOCAL_PATH.binary("local-path-provisioner")),
                "start",
                f"--kubeconfig={kubeconfigs['local-path-provisioner']}",
                f"--config={provisioner_config}",
                f"--namespace={STORAGE_NAMESPACE}",
                f"--helper-image={node_images.busybox_reference()}",
                f"--helper-pod-file={helper_pod}",
                f"--service-account-name={PROVISIONER_SERVICE_ACCOUNT}",
            ],
            health_url=urls["local-path-provisioner"],
        ),
    ]


def _helper_pod_yaml() -> str:
    return f"""\
apiVersion: v1
kind: Pod
metadata:
  name: helper-pod
spec:
  priorityClassName: system-node-critical
  tolerations:
    - key: node.kubernetes.io/disk-pressure
      operator: Exists
      effect: NoSchedule
  containers:
    - name: helper-pod
      image: {node_images.busybox_reference()}
      imagePullPolicy: Never
"""


def import_node_images() -> None:
    for archive in node_images.ensure():
        oci.import_image(archive, address=paths.CONTAINERD_SOCKET)


# --- cluster objects ------------------------------------------------------------------------------------------------


def _objects() -> list[dict[str, object]]:
    coredns_user = pki.CLIENTS["coredns"][0]
    provisioner_user = pki.CLIENTS["local-path-provisioner"][0]
    setup = 'set -eu\nmkdir -m 0777 -p "$VOL_DIR"\n'
    teardown = 'set -eu\nrm -rf "$VOL_DIR"\n'
    return [
        # The API server's own client certificate, when it calls the kubelet (logs, exec, port-forward).
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "airpool:kube-apiserver-kubelet-client"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:kubelet-api-admin",
            },
            "subjects": [
                {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "User",
                    "name": pki.CLIENTS["apiserver-kubelet-client"][0],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "airpool:coredns"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["endpoints", "services", "pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "airpool:coredns"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "airpool:coredns"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": coredns_user}],
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "kube-dns",
                "namespace": "kube-system",
                "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"},
            },
            "spec": {
                "clusterIP": network.DNS_SERVICE_IP,
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": network.DNS_PORT},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": network.DNS_PORT},
                ],
            },
        },
        # CoreDNS runs on the node itself (a host process): its endpoint is the node's address.
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "kube-dns-node",
                "namespace": "kube-system",
                "labels": {
                    "kubernetes.io/service-name": "kube-dns",
                    "endpointslice.kubernetes.io/managed-by": "airpool-devcluster",
                },
            },
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": [network.NODE_IP], "conditions": {"ready": True}, "nodeName": network.NODE_NAME}
            ],
            "ports": [
                {"name": "dns", "port": network.DNS_PORT, "protocol": "UDP"},
                {"name": "dns-tcp", "port": network.DNS_PORT, "protocol": "TCP"},
            ],
        },
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": STORAGE_NAMESPACE}},
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": PROVISIONER_SERVICE_ACCOUNT, "namespace": STORAGE_NAMESPACE},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "airpool:local-path-provisioner"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["nodes", "persistentvolumeclaims", "configmaps", "pods", "pods/log"],
                    "verbs": ["get", "list", "watch"],
                },
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "delete"]},
                {
                    "apiGroups": [""],
                    "resources": ["persistentvolumes"],
                    "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"],
                },
                {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
                {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": ["get", "list", "watch"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "airpool:local-path-provisioner"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "airpool:local-path-provisioner",
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": provisioner_user}],
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "local-path-config", "namespace": STORAGE_NAMESPACE},
            "data": {"setup": setup, "teardown": teardown},
        },
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": STORAGE_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "rancher.io/local-path",
            "volumeBindingMode": "WaitForFirstConsumer",
            "reclaimPolicy": "Delete",
        },
    ]


def apply_objects(client: Client) -> None:
    for document in _objects():
        client.apply(codecs.from_dict(document), field_manager=FIELD_MANAGER, force=True)


def node_ready(client: Client) -> bool:
    try:
        node = client.get(Node, network.NODE_NAME)
    except ApiError as exc:
        if exc.status.code == 404:
            return False
        raise
    status, spec = node.status, node.spec
    ready = status is not None and any(c.type == "Ready" and c.status == "True" for c in status.conditions or [])
    tainted = spec is not None and any(t.effect in {"NoSchedule", "NoExecute"} for t in spec.taints or [])
    return ready and not tainted


def wait_node_ready(client: Client, *, deadline: float, log: Path) -> float:
    """Wait until the node is Ready and untainted; return the seconds it took."""
    started = time.monotonic()
    while not node_ready(client):
        if time.monotonic() > deadline:
            raise errors.DevClusterError(
                f"The real node {network.NODE_NAME} did not become Ready in time. The kubelet's last log lines "
                f"({log}):\n{_tail(log)}"
            )
        time.sleep(0.1)
    return time.monotonic() - started


def record_timing(data_dir: Path, *, node_ready_seconds: float, waited: float) -> None:
    """Keep how long the node took to turn Ready after its kubelet started (bench and docs read it)."""
    _write(
        node_dir(data_dir) / "timings.json",
        json.dumps(
            {"node_ready_after_kubelet_start_s": round(node_ready_seconds, 2), "ready_wait_s": round(waited, 2)}
        ),
    )


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").rstrip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- stopping and cleaning ------------------------------------------------------------------------------------------


def _ctr(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ctr", "--address", str(paths.CONTAINERD_SOCKET), "--namespace", "k8s.io", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def remove_containers() -> None:
    """Delete every container (and its task) from containerd, so the next start finds none."""
    if not probe_unix(f"unix://{paths.CONTAINERD_SOCKET}"):
        return
    listing = _ctr("containers", "list", "--quiet")
    for container in listing.stdout.split():
        _ctr("tasks", "delete", "--force", container)
        _ctr("containers", "delete", container)


def stop_node_processes(layout: processes.Layout) -> None:
    processes.stop_all(["local-path-provisioner", "coredns", "kube-proxy", "kubelet"], layout=layout)


def _layout(data_dir: Path) -> processes.Layout:
    return processes.Layout(run_dir=data_dir / "run", log_dir=data_dir / "logs")


def clean(data_dir: Path, *, saved: object, absent: object = None) -> None:
    """Undo every host side effect of the node of ``data_dir``, stopping whatever of it still runs.

    ``saved``: the sysctls recorded at ``up``; ``absent``: the fixed directories that did not exist then."""
    data_dir = data_dir.resolve()
    directory = node_dir(data_dir)
    layout = _layout(data_dir)
    stop_node_processes(layout)
    host.kill_pod_processes()
    remove_containers()
    processes.stop_all(["containerd"], layout=layout)
    host.kill_shims()
    host.unmount_all([paths.CONTAINERD_ROOT, paths.RUN_DIR, paths.KUBELET_ROOT, directory])
    host.remove_pod_cgroups()
    proxy = binaries.KUBERNETES_NODE.binary("kube-proxy")
    if proxy.is_file() and host.kube_chains():
        subprocess.run([str(proxy), "--cleanup", "--v=0"], capture_output=True, timeout=120)
    host.remove_kube_chains()
    host.delete_bridge()
    for link in host.container_log_links(directory / "pod-logs"):
        link.unlink(missing_ok=True)
    for path in (
        paths.KUBELET_ROOT,
        directory / "pod-logs",
        paths.CONTAINERD_STATE,
        paths.CNI_STATE,
        paths.RUNC_ROOT,
        paths.CONTAINERD_SOCKET,
        paths.CONTAINERD_SOCKET.with_name(f"{paths.CONTAINERD_SOCKET.name}.ttrpc"),  # containerd leaves it
    ):
        host.remove_tree(path)
    for absent_dir in absent if isinstance(absent, list) else []:
        host.remove_if_empty(Path(str(absent_dir)))
    host.flush_conntrack()
    if isinstance(saved, dict):
        failed = host.restore_sysctls({str(k): str(v) for k, v in saved.items()})
        if failed:
            raise errors.DevClusterError(f"Could not restore the sysctls {', '.join(failed)}.")
    host.remove_guard()  # last: until here nothing of the pod or Service range could leave the machine
    paths.OWNER_FILE.unlink(missing_ok=True)


def stop(data_dir: Path, *, timeout: float = 60.0) -> None:
    """Stop the node's processes and undo its host side effects (only when ``data_dir`` owns the node)."""
    data_dir = data_dir.resolve()
    layout = _layout(data_dir)
    if not owns(data_dir):
        processes.stop_all(list(reversed(NAMES)), layout=layout)  # nothing of ours can be left but stale PID files
        return
    recorded = host.owner()
    stop_node_processes(layout)  # the kubelet holds the machine lock
    fd = host.wait_lock(timeout)
    try:
        clean(data_dir, saved=recorded.get("sysctls"), absent=recorded.get("absent_dirs"))
    finally:
        if fd is not None:
            os.close(fd)
    with contextlib.suppress(OSError):
        paths.LOCK_FILE.unlink()
        paths.RUN_DIR.rmdir()
