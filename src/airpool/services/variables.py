"""Environment variables of a Deployment (Houston's ``deploymentVariables`` / ``updateDeploymentVariables``).

The whole list is replaced at once, as Houston does. Secret values are write-only: reads return them as null, the
audit trail records keys only, and a secret sent back without a value keeps the stored one (clients never saw it).
A change queues an ``upgrade`` job; commander delivers every variable to every Airflow component through the
Secret ``<release>-env`` (``envFrom``)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from airpool.domain.deployments import DeploymentStatus
from airpool.domain.errors import InvalidInput
from airpool.services import access, audit, commander_jobs
from airpool.services.access import Actor, Role
from airpool.services.deployments import _dag_payload, _visible
from airpool.services.platform import Platform
from airpool.store import models

V = models.DeploymentVariable
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_VARIABLES = 200
MAX_VALUE = 32_768
#: The Airflow options airpool sets itself in Airflow containers: the environment variable, what it holds, the older
#: names Airflow still reads for the same option, and whether Airflow also reads it from ``<name>_CMD`` (a command)
#: and ``<name>_SECRET`` (the secrets backend), as it does for its sensitive options. A user's variable by any of
#: these names would fight the platform's value: the platform's wins (``env`` shadows ``envFrom``) or, under an
#: old name, an Airflow 2 image's entrypoint reads it anyway. All are refused, naming the option and why.
PLATFORM_OPTIONS: tuple[tuple[str, str, tuple[tuple[str, str], ...], bool], ...] = (
    (
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "the metadata database connection",
        (("AIRFLOW__CORE__SQL_ALCHEMY_CONN", "the old name (Airflow before 2.3) of"),),
        True,
    ),
    (
        "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_ENABLED",
        "whether Airflow 2's forking components pool metadata database connections",
        (("AIRFLOW__CORE__SQL_ALCHEMY_POOL_ENABLED", "the old name (Airflow before 2.3) of"),),
        False,
    ),
    ("AIRFLOW__CORE__FERNET_KEY", "the Fernet key that encrypts connections and variables", (), True),
    ("AIRFLOW__CELERY__BROKER_URL", "the Celery broker", (), True),
    (
        "AIRFLOW__API__SECRET_KEY",
        "the secret key that signs the Airflow UI's sessions",
        (("AIRFLOW__WEBSERVER__SECRET_KEY", "Airflow 2's name of"),),
        True,
    ),
    ("AIRFLOW__API_AUTH__JWT_SECRET", "the key that signs the Airflow API's tokens", (), True),
)
#: Airflow's suffixes that read a sensitive option from elsewhere.
_INDIRECT = {"_CMD": "from a command", "_SECRET": "from a secrets backend"}
#: Other variables airpool sets itself.
_OTHERS = {
    "AIRFLOW_CONN_AIRFLOW_DB": "the airflow_db connection to the metadata database",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": "the Airflow admin's password file",
    "AIRFLOW_ADMIN_USER": "the Airflow admin account",
    "AIRFLOW_ADMIN_PASSWORD": "the Airflow admin account",
}


def _platform_reasons() -> dict[str, str]:
    reasons: dict[str, str] = {}
    for name, what, older, sensitive in PLATFORM_OPTIONS:
        for key, how in ((name, None), *older):
            if how is None:
                reasons[key] = f"is set by airpool itself ({what})"
            else:
                reasons[key] = f"is {how} {name}, {what}, which airpool sets itself"
            for suffix, source in _INDIRECT.items() if sensitive else ():
                reasons[key + suffix] = f"would set {key} ({what}) {source}, which airpool sets itself"
    for key, what in _OTHERS.items():
        reasons[key] = f"is set by airpool itself ({what})"
    return reasons


#: Every refused key with the reason the refusal gives.
RESERVED: dict[str, str] = _platform_reasons()


@dataclass(frozen=True)
class VariableView:
    key: str
    #: None for a secret: its value is never returned.
    value: str | None
    is_secret: bool


@dataclass(frozen=True, repr=False)
class Delivered:
    """What commander puts into the Deployment's env Secret; ``repr`` hidden so a log line never carries values."""

    items: tuple[tuple[str, str], ...]

    def __repr__(self) -> str:
        return f"Delivered(<{len(self.items)} variables hidden>)"


def _view(row: models.DeploymentVariable) -> VariableView:
    return VariableView(key=row.key, value=None if row.is_secret else row.value, is_secret=row.is_secret)


def _check(given: Sequence[Mapping[str, Any]]) -> list[tuple[str, str | None, bool]]:
    if len(given) > MAX_VARIABLES:
        raise InvalidInput(f"environmentVariables has {len(given)} entries; at most {MAX_VARIABLES} are allowed")
    seen: set[str] = set()
    out = []
    for i, item in enumerate(given):
        where = f"environmentVariables[{i}]"
        key = str(item.get("key") or "").strip()
        if not _KEY.match(key) or len(key) > 255:
            raise InvalidInput(
                f"{where}.key {access.shown(key, 60)} is not an environment variable name; allowed: letters, digits "
                "and _, not starting with a digit, at most 255 characters"
            )
        if key in RESERVED:
            raise InvalidInput(f"{where}.key {key} {RESERVED[key]}; it cannot be overridden")
        if key in seen:
            raise InvalidInput(f"{where}.key {key} is given twice")
        seen.add(key)
        value = item.get("value")
        if value is not None and not isinstance(value, str):
            raise InvalidInput(f"{where}.value must be a string")
        if value is not None and len(value) > MAX_VALUE:
            raise InvalidInput(f"{where}.value is {len(value)} characters long; at most {MAX_VALUE} are allowed")
        out.append((key, value, bool(item.get("is_secret"))))
    return out


def list_for(platform: Platform, actor: Actor, deployment_id: str) -> list[VariableView]:
    """A Deployment's variables, by key; secret values are null. Viewers of the Deployment."""
    with platform.db.read() as s:
        _visible(s, actor, deployment_id, Role.VIEWER)
        rows = s.scalars(sa.select(V).where(V.deployment_id == deployment_id).order_by(V.key))
        return [_view(r) for r in rows]


def replace(
    platform: Platform, actor: Actor, deployment_id: str, given: Sequence[Mapping[str, Any]]
) -> list[VariableView]:
    """Set the Deployment's variables to exactly ``given`` (``{key, value, is_secret}`` each). A secret without
    a value keeps its stored value; a new secret needs one. Needs editor; a refusal changes nothing."""
    wanted = _check(given)
    now = platform.now()
    with platform.db.write() as s:
        dep = _visible(s, actor, deployment_id, Role.EDITOR, lock=True)
        stored = {r.key: r for r in s.scalars(sa.select(V).where(V.deployment_id == deployment_id))}
        before = {k: (r.value, r.is_secret) for k, r in stored.items()}
        after: dict[str, tuple[str, bool]] = {}
        for i, (key, value, secret) in enumerate(wanted):
            if value is None:
                old = stored.get(key)
                if not (secret and old is not None and old.is_secret):
                    what = "a new secret" if secret else "a variable"
                    raise InvalidInput(f"environmentVariables[{i}].value is missing; {what} needs a value")
                value = old.value
            after[key] = (value, secret)
        if after == before:
            return [_view(r) for _, r in sorted(stored.items())]
        for key, row in stored.items():
            if key not in after:
                s.delete(row)
        s.flush()
        for key, (value, secret) in after.items():
            existing = stored.get(key)
            if existing is None:
                s.add(
                    V(
                        id=str(uuid.uuid4()),
                        deployment_id=deployment_id,
                        key=key,
                        value=value,
                        is_secret=secret,
                        updated_at=now,
                    )
                )
            elif (existing.value, existing.is_secret) != (value, secret):
                existing.value, existing.is_secret, existing.updated_at = value, secret, now
        dep.updated_at = now
        dep.status = DeploymentStatus.DEPLOYING.value
        dep.status_message = "queued for upgrade (environment variables changed)"
        commander_jobs.cancel_queued(s, deployment_id=dep.id, kinds=(commander_jobs.JobKind.UPGRADE,), at=now)
        commander_jobs.enqueue(
            s,
            kind=commander_jobs.JobKind.UPGRADE,
            at=now,
            deployment_id=dep.id,
            namespace=dep.namespace,
            payload={**_dag_payload(dep.dag_deployment), "reason": "environment variables changed"},
        )
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        audit.record(
            s,
            actor=actor.username,
            action="deployment.variables",
            target_kind="deployment",
            target_id=dep.id,
            workspace_id=dep.workspace_id,
            detail={"changed": changed},  # keys only, never values
            at=now,
        )
        s.flush()
        rows = s.scalars(sa.select(V).where(V.deployment_id == deployment_id).order_by(V.key))
        return [_view(r) for r in rows]


def for_commander(platform: Platform, deployment_id: str) -> Delivered:
    """Every variable with its value, for commander's env Secret (never for an API answer)."""
    with platform.db.read() as s:
        rows = s.scalars(sa.select(V).where(V.deployment_id == deployment_id).order_by(V.key))
        return Delivered(items=tuple((r.key, r.value) for r in rows))
