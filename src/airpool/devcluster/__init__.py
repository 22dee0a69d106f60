"""A real, local Kubernetes control plane for development and tests: ``airpool dev up`` and the test fixtures.

etcd, kube-apiserver (RBAC enforced), kube-controller-manager, kube-scheduler and kwok (fake nodes that turn pods
Running without containers) run as detached processes on 127.0.0.1, with free ports and every file under one data
directory. Binaries come from ``airpool dev build`` (see ``build``); nothing here downloads anything.

The whole API::

    from airpool import devcluster

    cluster = devcluster.start(Path(".airpool/devcluster"))   # returns once healthy; port=6443 pins the API port
    cluster.admin_kubeconfig       # client cert in group system:masters
    cluster.commander_kubeconfig   # TokenRequest token of system:serviceaccount:astronomer:astronomer-commander
    cluster.server                 # https://127.0.0.1:<port>
    devcluster.status(cluster.data_dir)   # [ComponentStatus(name, pid, healthy, url, log), ...]
    devcluster.stop(cluster.data_dir)     # stops every process; keeps PKI and etcd data for the next start

``start(..., die_with_caller=True)`` (what the pytest fixture uses) also stops the processes when the calling
process dies, even by SIGKILL; ``airpool dev up`` leaves it off so the cluster outlives the command.

Every failure a developer can fix (binaries missing, port taken, a component unhealthy) raises
``DevClusterError`` with a one-paragraph message, after stopping whatever was started.
"""

from __future__ import annotations

from airpool.devcluster.cluster import ClusterInfo, ComponentStatus, info, start, stop
from airpool.devcluster.cluster import statuses as status
from airpool.devcluster.errors import DevClusterError

__all__ = ["ClusterInfo", "ComponentStatus", "DevClusterError", "info", "start", "status", "stop"]
