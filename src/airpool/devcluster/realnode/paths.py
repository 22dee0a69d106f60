"""Where the real node keeps its machine-wide files.

Only one real node can run on a machine (its kube-proxy and kubelet own iptables chains with fixed names in the
host's network namespace), so its runtime files have fixed, short paths rather than living in a cluster's data
directory: the containerd socket must stay under the 108-byte limit of a Unix socket path, and images imported
into containerd's root stay there for the next ``dev up`` (importing is then a no-op). Everything under
``RUN_DIR`` goes away with ``dev down``; ``CONTAINERD_ROOT`` keeps only image content between runs.
"""

from __future__ import annotations

from pathlib import Path

RUN_DIR = Path("/run/airpool-node")
LOCK_FILE = RUN_DIR / "lock"
OWNER_FILE = RUN_DIR / "owner.json"  # which data directory's cluster owns the node, the sysctls to restore
CONTAINERD_SOCKET = RUN_DIR / "containerd.sock"
CONTAINERD_STATE = RUN_DIR / "containerd"
CONTAINERD_ROOT = Path("/var/lib/airpool-node/containerd")
CNI_STATE = RUN_DIR / "cni"  # host-local IPAM's allocations
RUNC_ROOT = RUN_DIR / "runc"  # runc's state of the node's containers
# containerd 1.6 puts its shims' sockets here whatever its state directory (removed when a shim exits cleanly).
SHIM_SOCKETS = Path("/run/containerd/s")
# The kubelet's root: pod volumes (emptyDir data too, so on disk rather than in /run) and the kubelet's own Unix
# sockets, whose paths must stay short wherever the cluster's data directory is.
KUBELET_ROOT = Path("/var/lib/airpool-node/kubelet")
