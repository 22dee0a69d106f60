"""The real node's addresses: one bridge on this machine, the pod range on it, and the Service range.

Pods live on the bridge ``BRIDGE`` (gateway ``NODE_IP``, which is also the node's address, where the API server,
the kubelet and CoreDNS listen). Nothing of the pod or Service range may ever leave the machine: the egress guard
(``host.add_guard``) drops any packet from or to those ranges that would go out through another interface, and
pod traffic is never NATed to the outside (the bridge plugin runs with ``ipMasq: false``).
"""

from __future__ import annotations

BRIDGE = "airpool0"
NODE_IP = "10.85.0.1"
POD_CIDR = "10.85.0.0/24"
POD_PREFIX = 24
SERVICE_CIDR = "10.96.0.0/16"  # the API server's --service-cluster-ip-range, fake-node clusters included
KUBERNETES_SERVICE_IP = "10.96.0.1"
DNS_SERVICE_IP = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
NODE_NAME = "airpool-node"
KUBELET_PORT = 10250
DNS_PORT = 53
GUARD_CHAIN = "AIRPOOL-NODE-GUARD"  # in the mangle table, jumped to from POSTROUTING
