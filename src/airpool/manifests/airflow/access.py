"""Identities of the Deployment's pods and the Roles they need inside the namespace.

The rules here are granted BY commander, so Kubernetes' escalation check requires commander to hold each of
them; ``ROLE_RULES`` is exported for that reason (commander's preflight and the coverage test read it).
"""

from __future__ import annotations

from airpool.domain.deployments import Executor
from airpool.manifests.airflow import common as c
from airpool.manifests.airflow import workloads
from airpool.manifests.airflow.spec import AirflowSpec

POD_LAUNCHER_RULES: tuple[c.Obj, ...] = (
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "list", "get", "patch", "watch", "delete"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["list", "watch"]},
)
POD_LOG_READER_RULES: tuple[c.Obj, ...] = (
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "get", "watch"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get", "list"]},
)
CLEANUP_RULES: tuple[c.Obj, ...] = ({"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "delete"]},)

#: Role suffix -> rules, for every Role a Deployment creates.
ROLE_RULES: dict[str, tuple[c.Obj, ...]] = {
    "pod-launcher-role": POD_LAUNCHER_RULES,
    "pod-log-reader-role": POD_LOG_READER_RULES,
    "cleanup-role": CLEANUP_RULES,
}


def service_accounts(spec: AirflowSpec) -> list[c.Obj]:
    return [c.service_account(spec, comp) for comp in workloads.service_account_components(spec)]


def _bound_components(spec: AirflowSpec) -> dict[str, list[str]]:
    launchers = ["triggerer"]
    if spec.executor in (Executor.CELERY, Executor.KUBERNETES):
        launchers.insert(0, "worker")
    if spec.executor in (Executor.KUBERNETES, Executor.LOCAL):
        launchers.append("scheduler")  # it launches the task pods (Kubernetes) or runs the tasks itself (Local)
    out = {"pod-launcher-role": launchers, "pod-log-reader-role": [workloads.webserver_component(spec)]}
    if workloads.has_cleanup(spec):
        out["cleanup-role"] = ["cleanup"]
    return out


def roles(spec: AirflowSpec) -> list[c.Obj]:
    out: list[c.Obj] = []
    for suffix, subjects in _bound_components(spec).items():
        role_name = c.name(spec, suffix)
        out.append(
            c.obj(
                "rbac.authorization.k8s.io/v1",
                "Role",
                c.meta(spec, role_name),
                rules=[dict(rule) for rule in ROLE_RULES[suffix]],
            )
        )
        out.append(
            c.obj(
                "rbac.authorization.k8s.io/v1",
                "RoleBinding",
                c.meta(spec, f"{role_name}binding"),
                roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
                subjects=[
                    {"kind": "ServiceAccount", "name": c.sa_name(spec, comp), "namespace": spec.namespace}
                    for comp in subjects
                ],
            )
        )
    return out
