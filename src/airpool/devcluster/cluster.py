"""Start, stop and inspect one local control plane whose every file lives under one data directory.

The processes start in two waves: etcd and kube-apiserver together (the API server retries etcd), then, once
the API server is ready, the controller manager, the scheduler and kwok together while the bootstrap (commander's
token, fake nodes) runs. Starting the second wave earlier is slower: their first requests, made before the API
server has bootstrapped RBAC, are denied and their informers back off for seconds. Health is polled every 50 ms.
``start`` returns only once a Deployment created right then would run at once (see ``bootstrap.wait_ready``).

The data directory keeps the PKI, etcd's data and the ports between runs, so kubeconfigs written by one
``dev up`` keep working after ``dev down`` / ``dev up``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

from airpool.devcluster import binaries, bootstrap, errors, kubeconfig, pki, processes
from airpool.devcluster.realnode import network
from airpool.devcluster.realnode import node as realnode

ORDER = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
PORTS = ("etcd-client", "etcd-peer", "apiserver", "controller-manager", "scheduler", "kwok")
LOOPBACK = "127.0.0.1"
DEFAULT_TIMEOUT = 90.0
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClusterInfo:
    """What a client of the dev cluster needs: where the API server is and who to be."""

    data_dir: Path
    server: str
    admin_kubeconfig: Path
    commander_kubeconfig: Path
    ca_cert: Path
    real_node: bool = False  # a real node (containerd, kubelet, ...) runs beside the fake ones


@dataclasses.dataclass(frozen=True, kw_only=True)
class ComponentStatus:
    name: str
    pid: int | None
    healthy: bool
    url: str
    log: Path

    @property
    def running(self) -> bool:
        return self.pid is not None


def _layout(data_dir: Path) -> processes.Layout:
    return processes.Layout(run_dir=data_dir / "run", log_dir=data_dir / "logs")


def _state_file(data_dir: Path) -> Path:
    return data_dir / "cluster.json"


def info(data_dir: Path) -> ClusterInfo:
    """Where the files of the cluster in ``data_dir`` are (whether or not it runs)."""
    data_dir = data_dir.resolve()
    ports = _saved_ports(data_dir)
    real_node = _saved_real_node(data_dir)
    return ClusterInfo(
        data_dir=data_dir,
        server=f"https://{_host(real_node=real_node)}:{ports.get('apiserver', 0)}",
        admin_kubeconfig=data_dir / "admin.kubeconfig",
        commander_kubeconfig=data_dir / "commander.kubeconfig",
        ca_cert=data_dir / "pki" / "ca.crt",
        real_node=real_node,
    )


def _host(*, real_node: bool) -> str:
    """Where the API server listens: loopback, or the node's bridge address, so that pods reach it too."""
    return network.NODE_IP if real_node else LOOPBACK


def _saved_state(data_dir: Path) -> dict[str, object]:
    try:
        saved = json.loads(_state_file(data_dir).read_text())
    except (OSError, ValueError):
        return {}
    return saved if isinstance(saved, dict) else {}


def _saved_real_node(data_dir: Path) -> bool:
    return _saved_state(data_dir).get("real_node") is True


def _saved_ports(data_dir: Path) -> dict[str, int]:
    saved = _saved_state(data_dir).get("ports")
    if not isinstance(saved, dict):
        return {}
    try:
        return {key: int(value) for key, value in saved.items() if key in (*PORTS, *realnode.PORTS)}
    except (TypeError, ValueError):
        return {}


def _choose_ports(data_dir: Path, *, apiserver_port: int | None, real_node: bool) -> dict[str, int]:
    """The ports of the last run when still free (stable URLs), otherwise fresh free ones."""
    if apiserver_port is not None and not processes.port_is_free(apiserver_port):
        raise errors.DevClusterError(
            f"Port {apiserver_port} on 127.0.0.1 is already in use, so kube-apiserver cannot listen there. "
            f"Stop whatever listens on it (`ss -ltnp 'sport = :{apiserver_port}'` shows it), pick another port "
            "with --port, or leave --port out to let airpool choose a free one."
        )
    saved = _saved_ports(data_dir)
    ports: dict[str, int] = {} if apiserver_port is None else {"apiserver": apiserver_port}
    for key in (*PORTS, *realnode.PORTS) if real_node else PORTS:
        if key in ports:
            continue
        if key in saved and saved[key] not in ports.values() and processes.port_is_free(saved[key]):
            ports[key] = saved[key]
        else:
            port = processes.free_port()
            while port in ports.values():
                port = processes.free_port()
            ports[key] = port
    return ports


def _health_urls(ports: dict[str, int], *, real_node: bool = False) -> dict[str, str]:
    def port(key: str) -> int:
        return ports.get(key, 0)

    return {
        "etcd": f"http://127.0.0.1:{port('etcd-client')}/health",
        "kube-apiserver": f"https://{_host(real_node=real_node)}:{port('apiserver')}/readyz",
        "kube-controller-manager": f"https://127.0.0.1:{port('controller-manager')}/healthz",
        "kube-scheduler": f"https://127.0.0.1:{port('scheduler')}/readyz",  # ready: its informers have synced
        "kwok": f"http://127.0.0.1:{port('kwok')}/healthz",
        **(realnode.health_urls(ports) if real_node else {}),
    }


def _apiserver_network_flags(keys: pki.Pki, *, real_node: bool) -> list[str]:
    if not real_node:
        return ["--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none"]
    # Beside a real node: listen on the bridge address, where pods reach it as the `kubernetes` Service (the
    # endpoint reconciler publishes that address), and call the kubelet with a client certificate of its own.
    return [
        f"--bind-address={network.NODE_IP}",
        f"--advertise-address={network.NODE_IP}",
        f"--kubelet-client-certificate={keys.cert('apiserver-kubelet-client')}",
        f"--kubelet-client-key={keys.key('apiserver-kubelet-client')}",
        f"--kubelet-certificate-authority={keys.ca_cert}",
        "--kubelet-preferred-address-types=InternalIP",
    ]


def _specs(data_dir: Path, *, ports: dict[str, int], keys: pki.Pki, real_node: bool) -> list[processes.Spec]:
    run = data_dir / "run"
    etcd_url = f"http://127.0.0.1:{ports['etcd-client']}"
    peer_url = f"http://127.0.0.1:{ports['etcd-peer']}"
    kube = binaries.KUBERNETES
    health = _health_urls(ports, real_node=real_node)

    def served(binary: str, short: str) -> list[str]:
        """The flags the controller manager and the scheduler share: own identity, own port, one leader."""
        return [
            str(kube.binary(binary)),
            f"--kubeconfig={data_dir / 'components' / f'{short}.kubeconfig'}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports[short]}",
            f"--cert-dir={run / short}",
            "--leader-elect=false",
            "--profiling=false",
        ]

    stage_args = [arg for stage in binaries.stage_files() for arg in ("-c", str(stage))]
    if not real_node:
        stage_args += _fake_pod_log_args(data_dir, kwok_port=ports["kwok"])
    return [
        processes.Spec(
            name="etcd",
            argv=[
                str(binaries.ETCD.binary("etcd")),
                "--name=airpool",
                f"--data-dir={data_dir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=airpool={peer_url}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
            health_url=health["etcd"],
        ),
        processes.Spec(
            name="kube-apiserver",
            argv=[
                str(kube.binary("kube-apiserver")),
                f"--etcd-servers={etcd_url}",
                *_apiserver_network_flags(keys, real_node=real_node),
                f"--secure-port={ports['apiserver']}",
                f"--cert-dir={run / 'apiserver'}",
                f"--tls-cert-file={keys.cert('apiserver')}",
                f"--tls-private-key-file={keys.key('apiserver')}",
                f"--client-ca-file={keys.ca_cert}",
                "--authorization-mode=Node,RBAC",
                f"--service-account-key-file={keys.sa_pub}",
                f"--service-account-signing-key-file={keys.sa_key}",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--allow-privileged=true",
                "--enable-priority-and-fairness=false",
                "--profiling=false",
            ],
            health_url=health["kube-apiserver"],
        ),
        processes.Spec(
            name="kube-controller-manager",
            argv=[
                *served("kube-controller-manager", "controller-manager"),
                f"--root-ca-file={keys.ca_cert}",
                f"--service-account-private-key-file={keys.sa_key}",
                f"--cluster-signing-cert-file={keys.ca_cert}",
                f"--cluster-signing-key-file={keys.ca_key}",
                "--use-service-account-credentials=true",
                "--kube-api-qps=1000",  # the default 20/s spaces out the start of its ~40 controllers by 150 ms each
                "--kube-api-burst=1000",
            ],
            health_url=health["kube-controller-manager"],
        ),
        processes.Spec(
            name="kube-scheduler",
            argv=served("kube-scheduler", "scheduler"),
            health_url=health["kube-scheduler"],
        ),
        processes.Spec(
            name="kwok",
            argv=[
                str(binaries.KWOK.binary("kwok")),
                f"--kubeconfig={data_dir / 'components' / 'kwok.kubeconfig'}",
                # only its own fake nodes: never the real node, whose kubelet reports for itself
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={bootstrap.FAKE_NODE_ANNOTATION}=fake",
                f"--server-address=127.0.0.1:{ports['kwok']}",
                "--node-lease-duration-seconds=40",
                "--cidr=10.244.0.0/16",
                *stage_args,
            ],
            health_url=health["kwok"],
        ),
    ]


def fake_pod_log(data_dir: Path) -> Path:
    """The file every container of every fake pod logs to (CRI log format: ``<RFC 3339 time> stdout F <line>``).

    kwok plays the kubelet for its fake nodes' pod logs too: the API server's ``pods/log`` reaches kwok's server
    (the fake nodes' InternalIP 127.0.0.1, kubelet port = kwok's port), which reads this file as the ClusterLogs
    configuration below says, following it for ``follow=true``. A test appends lines here to make a fake
    scheduler "write" them. Without a real node only: there the API server checks kubelet certificates against the
    cluster CA, which kwok's own serving certificate is not signed by, and real pods have real logs.
    """
    return data_dir.resolve() / "fake-pod-logs" / "containers.log"


def _fake_pod_log_args(data_dir: Path, *, kwok_port: int) -> list[str]:
    log_file = fake_pod_log(data_dir)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.touch()
    config = data_dir.resolve() / "components" / "kwok-logs.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        json.dumps(
            {
                "apiVersion": "kwok.x-k8s.io/v1alpha1",
                "kind": "ClusterLogs",
                "metadata": {"name": "fake-pod-logs"},
                "spec": {"logs": [{"logsFile": str(log_file), "follow": True}]},
            }
        )
    )
    return ["-c", str(config), f"--node-ip={LOOPBACK}", f"--node-port={kwok_port}"]


def _probe_context() -> ssl.SSLContext:
    # Health endpoints only: the controller manager and scheduler serve self-signed certificates.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


_PROBE_CONTEXT = _probe_context()


def _probe(url: str) -> bool:
    if url == "alive:":  # no health endpoint: running is all one can tell
        return True
    if url.startswith("unix://"):
        return realnode.probe_unix(url)
    try:
        with urllib.request.urlopen(url, timeout=1.0, context=_PROBE_CONTEXT) as response:
            return int(response.status) == 200
    except (OSError, urllib.error.URLError, ValueError):
        return False


def _write_kubeconfigs(data_dir: Path, *, server: str, keys: pki.Pki) -> None:
    """Admin's kubeconfig for people, and one per component so each acts with its own identity."""
    paths = {"admin": data_dir / "admin.kubeconfig"} | {
        name: data_dir / "components" / f"{name}.kubeconfig" for name in ("controller-manager", "scheduler", "kwok")
    }
    for name, path in paths.items():
        kubeconfig.write(
            path,
            server=server,
            ca_cert=keys.ca_cert,
            user=pki.CLIENTS[name][0],
            client_cert=keys.cert(name),
            client_key=keys.key(name),
        )


def _names(data_dir: Path) -> tuple[str, ...]:
    return (*ORDER, *realnode.NAMES) if _saved_real_node(data_dir) else ORDER


def running(data_dir: Path) -> bool:
    layout = _layout(data_dir.resolve())
    return any(processes.recorded_pid(name, layout=layout) is not None for name in (*ORDER, *realnode.NAMES))


def start(
    data_dir: Path,
    *,
    port: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    die_with_caller: bool = False,
    real_node: bool = False,
) -> ClusterInfo:
    """Start the control plane in ``data_dir`` and return once it is healthy and bootstrapped.

    When it already runs there, return its info unchanged. On any failure, stop whatever was started.
    ``die_with_caller`` ties the processes to the calling thread's life (test sessions: a killed pytest leaves
    nothing behind); ``airpool dev up`` leaves it off, since its processes must outlive the command.
    ``real_node``: also run a real node (``realnode``) and keep the fake nodes for pods that tolerate their taint;
    fails with ``realnode.explain`` when this machine cannot run containers (``realnode.why_not``).
    """
    data_dir = data_dir.resolve()
    if running(data_dir):
        if _saved_real_node(data_dir) == real_node and all(status.healthy for status in statuses(data_dir)):
            current = info(data_dir)
            if port is not None and not current.server.endswith(f":{port}"):
                raise errors.DevClusterError(
                    f"The dev cluster in {data_dir} already runs, at {current.server}, not on port {port}. "
                    "Stop it first (`airpool dev down`) to restart it on another port."
                )
            return current
        stop(data_dir)
    binaries.require_all(real_node=real_node)
    if real_node and (reason := realnode.why_not()) is not None:
        raise errors.DevClusterError(realnode.explain(reason))
    deadline = time.monotonic() + timeout
    data_dir.mkdir(parents=True, exist_ok=True)
    ports = _choose_ports(data_dir, apiserver_port=port, real_node=real_node)
    _state_file(data_dir).write_text(json.dumps({"ports": ports, "real_node": real_node}, indent=2))
    keys = pki.ensure(data_dir / "pki")
    cluster = info(data_dir)
    _write_kubeconfigs(data_dir, server=cluster.server, keys=keys)
    lock = realnode.acquire(data_dir) if real_node else None  # before the API server: it listens on the bridge
    try:
        _start(data_dir, cluster=cluster, ports=ports, keys=keys, deadline=deadline, lock=lock, die=die_with_caller)
    except BaseException:
        if lock is not None:
            os.close(lock)
            lock = None
        stop(data_dir)
        raise
    finally:
        if lock is not None:
            os.close(lock)  # the kubelet holds the machine lock from now on
    return cluster


def _start(
    data_dir: Path,
    *,
    cluster: ClusterInfo,
    ports: dict[str, int],
    keys: pki.Pki,
    deadline: float,
    lock: int | None,
    die: bool,
) -> None:
    from airpool.kube import client as kube_client

    layout = _layout(data_dir)
    specs = _specs(data_dir, ports=ports, keys=keys, real_node=lock is not None)
    # Two waves: clients started before the API server has bootstrapped RBAC get 403s and back off for seconds.
    storage = [(spec, processes.spawn(spec, layout=layout, die_with_caller=die)) for spec in specs[:2]]
    if lock is not None:
        containerd = realnode.containerd_spec(data_dir)
        storage.append((containerd, processes.spawn(containerd, layout=layout, die_with_caller=die)))
    processes.wait_healthy(storage, layout=layout, deadline=deadline, probe=_probe)
    clients = [(spec, processes.spawn(spec, layout=layout, die_with_caller=die)) for spec in specs[2:]]
    admin = kube_client.connect(cluster.admin_kubeconfig, field_manager=kube_client.ADMIN_FIELD_MANAGER)
    node_started = 0.0
    if lock is not None:
        realnode.import_node_images()
        realnode.apply_objects(admin)
        node_specs = realnode.node_specs(data_dir, ports=ports, keys=keys, server=cluster.server)
        node_specs[0] = dataclasses.replace(node_specs[0], pass_fds=(lock,))  # the kubelet holds the lock
        node_started = time.monotonic()
        clients += [(spec, processes.spawn(spec, layout=layout, die_with_caller=die)) for spec in node_specs]
    token = bootstrap.commander_token(admin)
    kubeconfig.write(
        cluster.commander_kubeconfig,
        server=cluster.server,
        ca_cert=keys.ca_cert,
        user=bootstrap.COMMANDER_USER.rsplit(":", 1)[-1],
        token=token,
    )
    bootstrap.fake_nodes(admin, tainted=lock is not None)
    processes.wait_healthy([*storage, *clients], layout=layout, deadline=deadline, probe=_probe)
    if lock is not None:
        ready_after = realnode.wait_node_ready(admin, deadline=deadline, log=layout.log_file("kubelet"))
        realnode.record_timing(data_dir, node_ready_seconds=time.monotonic() - node_started, waited=ready_after)
    bootstrap.wait_ready(admin, deadline=deadline)


def stop(data_dir: Path) -> None:
    """Stop every process this data directory recorded, and the real node's host side effects when it owns the
    node; keep the data (PKI, etcd) for the next start."""
    data_dir = data_dir.resolve()
    layout = _layout(data_dir)
    processes.stop_all(["kwok", "kube-scheduler", "kube-controller-manager"], layout=layout)
    if realnode.owns(data_dir):
        processes.terminate(["kube-apiserver", "etcd"], layout=layout)  # they shut down while the node is cleaned
    realnode.stop(data_dir)
    processes.stop_all(["kube-apiserver", "etcd"], layout=layout)
    for component in ("apiserver", "controller-manager", "scheduler"):
        with contextlib.suppress(OSError):
            shutil.rmtree(data_dir / "run" / component)


def statuses(data_dir: Path) -> list[ComponentStatus]:
    """Each component: its PID when running, and whether its health endpoint answers."""
    data_dir = data_dir.resolve()
    layout = _layout(data_dir)
    ports = _saved_ports(data_dir)
    urls = _health_urls(ports, real_node=_saved_real_node(data_dir))
    result = []
    for name in _names(data_dir):
        pid = processes.recorded_pid(name, layout=layout)
        result.append(
            ComponentStatus(
                name=name,
                pid=pid,
                healthy=pid is not None and _probe(urls[name]),
                url=urls[name],
                log=layout.log_file(name),
            )
        )
    return result


def stop_component(data_dir: Path, name: str) -> None:
    """Stop one running component (tests: the API server down while commander works); the rest keep running."""
    if name not in ORDER:
        raise errors.DevClusterError(f"no dev cluster component {name!r}; components: {', '.join(ORDER)}")
    processes.stop_all([name], layout=_layout(data_dir.resolve()))


def start_component(
    data_dir: Path, name: str, *, timeout: float = DEFAULT_TIMEOUT, die_with_caller: bool = False
) -> None:
    """Start one stopped component again with the flags ``start`` gave it, and wait until it is healthy."""
    data_dir = data_dir.resolve()
    if name not in ORDER:
        raise errors.DevClusterError(f"no dev cluster component {name!r}; components: {', '.join(ORDER)}")
    layout = _layout(data_dir)
    if processes.recorded_pid(name, layout=layout) is not None:
        return
    real_node = _saved_real_node(data_dir)
    specs = _specs(data_dir, ports=_saved_ports(data_dir), keys=pki.ensure(data_dir / "pki"), real_node=real_node)
    spec = next(s for s in specs if s.name == name)
    started = processes.spawn(spec, layout=layout, die_with_caller=die_with_caller)
    processes.wait_healthy([(spec, started)], layout=layout, deadline=time.monotonic() + timeout, probe=_probe)
