"""The object kinds commander manages, mapped to lightkube resource classes and RBAC resource names.

One table serves apply (resource class per rendered object), uninstall and the leftover check (every kind that
may carry a Deployment's label, in deletion order) and preflight (group/resource per kind), so a kind added to
the manifests but missing here fails the unit test instead of being silently left behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lightkube.core import resource as lk_resource
from lightkube.core.resource_registry import resource_registry

from airpool.kube import decoding
from airpool.manifests.airflow import common


@dataclass(frozen=True)
class Kind:
    api_version: str
    kind: str

    @property
    def resource(self) -> Any:
        """The lightkube class (typed loosely: lightkube's overloads are per namespaced/global class)."""
        return resource_registry.load(self.api_version, self.kind)

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def plural(self) -> str:
        return str(lk_resource.api_info(self.resource).plural)

    @property
    def namespaced(self) -> bool:
        return issubclass(self.resource, lk_resource.NamespacedResource)


def owned_by(deployment_id: str) -> dict[str, Any]:
    """Label filter for every object of one Deployment (lightkube ``labels=``)."""
    return {common.MANAGED_BY: common.MANAGED_BY_VALUE, common.DEPLOYMENT_LABEL: deployment_id}


def any_deployment() -> dict[str, Any]:
    """Label filter for objects of ANY airpool Deployment (leftover check of a free pool namespace)."""
    return {common.MANAGED_BY: common.MANAGED_BY_VALUE, common.DEPLOYMENT_LABEL: None}


def kind_of(obj: dict[str, Any]) -> Kind:
    return Kind(obj["apiVersion"], obj["kind"])


#: Every kind that may carry ``airpool.io/deployment``, in the order uninstall deletes them: owners of pods first
#: (so controllers stop recreating them), then pods, then what the pods used, access last.
MANAGED_KINDS: tuple[Kind, ...] = (
    Kind("networking.k8s.io/v1", "Ingress"),
    Kind("batch/v1", "CronJob"),
    Kind("apps/v1", "Deployment"),
    Kind("apps/v1", "StatefulSet"),
    Kind("batch/v1", "Job"),
    Kind("apps/v1", "ReplicaSet"),
    Kind("v1", "Pod"),
    Kind("v1", "Service"),
    Kind("networking.k8s.io/v1", "NetworkPolicy"),
    Kind("v1", "ConfigMap"),
    Kind("v1", "Secret"),
    Kind("v1", "PersistentVolumeClaim"),
    Kind("rbac.authorization.k8s.io/v1", "RoleBinding"),
    Kind("rbac.authorization.k8s.io/v1", "Role"),
    Kind("v1", "ServiceAccount"),
    Kind("v1", "ResourceQuota"),
    Kind("v1", "LimitRange"),
    Kind("v1", "PersistentVolume"),
)

#: Made by controllers from commander's objects (never applied by commander), with the verbs commander needs on
#: them: both are read for status and the "gone" check; pods (task pods have no owner commander deletes) are
#: deleted, ReplicaSets always go with their Deployment through the garbage collector.
CONTROLLER_MADE: dict[Kind, tuple[str, ...]] = {
    Kind("apps/v1", "ReplicaSet"): ("get", "list"),
    Kind("v1", "Pod"): ("get", "list", "delete"),
}

NAMESPACED_KINDS = tuple(k for k in MANAGED_KINDS if k.namespaced)
CLUSTER_KINDS = tuple(k for k in MANAGED_KINDS if not k.namespaced)


def warm_up_decoders() -> None:
    """Every class commander decodes, warmed before its thread pools start (see ``kube.decoding``)."""
    extra = (
        Kind("v1", "Namespace"),
        Kind("authorization.k8s.io/v1", "SelfSubjectRulesReview"),
        Kind("authorization.k8s.io/v1", "SelfSubjectAccessReview"),
    )
    decoding.warm_up(kind.resource for kind in (*MANAGED_KINDS, *extra))
