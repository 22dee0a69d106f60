"""The configuration files of the node's parts, as pure functions of their paths and ports.

Each setting that differs from the upstream default is there for a reason given next to it (most were needed on
this machine kind: see the reference notes in docs/devcluster.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from airpool.devcluster.realnode import network, paths

CLOSED_REGISTRY = "https://127.0.0.1:1"  # nothing listens on port 1: a missing image fails at once, never pulls


def containerd_toml(*, sandbox_image: str, cni_conf_dir: Path, registry_dir: Path) -> str:
    root, state, socket = paths.CONTAINERD_ROOT, paths.CONTAINERD_STATE, paths.CONTAINERD_SOCKET
    return f"""\
# Written by airpool dev up --real-node; rewritten at every start.
version = 2
root = "{root}"
state = "{state}"
# The "opt" plugin would create /opt/containerd; the other snapshotters are not used.
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "{socket}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox_image}"
  # This machine kind drops CAP_SYS_RESOURCE: runc cannot set a negative oom_score_adj, so every sandbox would fail.
  restrict_oom_score_adj = true
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  # Pod network namespaces are mounted under the state directory (cleaned by dev down), not /var/run/netns.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        # runc's state, which would otherwise go to /run/containerd/runc
        Root = "{paths.RUNC_ROOT}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni_conf_dir}"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    # hosts.toml for _default points every registry at a closed loopback port.
    config_path = "{registry_dir}"
"""


def registry_hosts_toml() -> str:
    return f"""\
# Written by airpool dev up --real-node. No registry is reachable from here and the host must not try: every
# registry resolves to a closed loopback port, so a pod whose image was not built and imported fails at once.
server = "{CLOSED_REGISTRY}"

[host."{CLOSED_REGISTRY}"]
  capabilities = ["pull", "resolve"]
"""


def cni_conflist() -> str:
    return json.dumps(
        {
            "cniVersion": "0.4.0",
            "name": "airpool",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": network.BRIDGE,
                    "isGateway": True,
                    "ipMasq": False,  # pod traffic is never NATed to the outside
                    "hairpinMode": True,  # a pod reaches itself through its own Service
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": network.POD_CIDR, "gateway": network.NODE_IP}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": str(paths.CNI_STATE),
                    },
                },
            ],
        },
        indent=2,
    )


def kubelet_config(*, node_dir: Path, ca_cert: Path, serving_cert: Path, serving_key: Path, healthz_port: int) -> str:
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": network.NODE_IP,
        "port": network.KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "tlsCertFile": str(serving_cert),
        "tlsPrivateKeyFile": str(serving_key),
        # The API server proves itself with its kubelet client certificate; every request is authorized by the
        # API server (SubjectAccessReview). No anonymous access.
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True, "cacheTTL": "30s"},
            "x509": {"clientCAFile": str(ca_cert)},
        },
        "authorization": {"mode": "Webhook", "webhook": {"cacheAuthorizedTTL": "30s", "cacheUnauthorizedTTL": "5s"}},
        "cgroupDriver": "cgroupfs",
        "failSwapOn": False,
        "failCgroupV1": False,  # this machine kind has cgroup v1 (hybrid)
        "oomScoreAdj": 0,  # a negative value cannot be set here (no CAP_SYS_RESOURCE)
        "containerRuntimeEndpoint": f"unix://{paths.CONTAINERD_SOCKET}",
        "imageServiceEndpoint": f"unix://{paths.CONTAINERD_SOCKET}",
        "podLogsDir": str(node_dir / "pod-logs"),
        "volumePluginDir": str(node_dir / "volume-plugins"),
        "clusterDNS": [network.DNS_SERVICE_IP],
        "clusterDomain": network.CLUSTER_DOMAIN,
        "resolvConf": "",  # no host resolvers handed to pods: names resolve only inside the cluster
        "staticPodPath": "",
        # A small, shared disk: evict late, and never collect the imported images (they cannot be pulled again).
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "nodefs.inodesFree": "1%",
            "imagefs.available": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "maxPods": 110,
        "serializeImagePulls": False,
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "protectKernelDefaults": False,
        "makeIPTablesUtilChains": True,
        "nodeStatusUpdateFrequency": "10s",
        "shutdownGracePeriod": "0s",
        "logging": {"format": "text"},
    }
    return yaml.safe_dump(config, sort_keys=False)


def kube_proxy_config(*, kubeconfig: Path, healthz_port: int, metrics_port: int) -> str:
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": network.NODE_NAME,
        "bindAddress": network.NODE_IP,  # the node's address, so kube-proxy need not wait for the Node object
        "mode": "iptables",
        "clusterCIDR": network.POD_CIDR,
        "nodePortAddresses": [network.POD_CIDR],  # NodePorts only on the bridge, never on the uplink
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        "oomScoreAdj": 0,
        "iptables": {"localhostNodePorts": False, "masqueradeAll": False, "syncPeriod": "30s", "minSyncPeriod": "0s"},
        # zero: leave the machine's conntrack sysctls as they are
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
    }
    return yaml.safe_dump(config, sort_keys=False)


def corefile(*, kubeconfig: Path, health_port: int, ready_port: int) -> str:
    return f"""\
.:{network.DNS_PORT} {{
    bind {network.NODE_IP}
    errors
    health 127.0.0.1:{health_port}
    ready 127.0.0.1:{ready_port}
    kubernetes {network.CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }}
    cache 30
    loop
    reload
}}
"""
