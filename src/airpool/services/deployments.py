"""Deployments: create (with the namespace claim), read, delete.

How the namespace is chosen, by configuration:

- **pool** (``PlatformConfig.pool`` set): the requested namespace, or the first available one by name, claimed
  by one compare-and-set in the transaction that inserts the Deployment and queues its ``install`` job. Nothing
  is written when any step fails.
- **free-form** (``deployments.free_form`` without a pool): the user's name, if it is a DNS-1123 label, not a
  reserved namespace, and not occupied by another Deployment (unique ``active_namespace``).
- **derived** (neither): ``<platform_release>-<release_name>``; asking for a namespace is an error.

Delete mode: ``deployments.hard_delete`` in the configuration *allows* hard deletes and makes them the default;
a request may still ask for a soft delete (``hard=False``). Without it every delete is soft, whatever the request
says (the astro CLI always sends ``hard=true``, so refusing would make deletes impossible from the CLI). A soft
delete keeps the row and data until ``releases_at`` = delete time + ``retention_days``; ``cleanup`` finishes it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from airpool.config.build import ADVANCED
from airpool.config.model import PlatformConfig
from airpool.domain import dags, sizes
from airpool.domain import deployments as spec
from airpool.domain.deployments import DeploymentStatus, Executor
from airpool.domain.errors import Conflict, InvalidInput, NotFound
from airpool.domain.names import SYSTEM_NAMESPACES, dns1123_label_problem
from airpool.services import access, audit, commander_jobs, pool, views
from airpool.services.access import Actor, Role
from airpool.services.platform import Platform
from airpool.store import engine, models

D = models.Deployment
_AIRFLOW_VERSION = re.compile(r"^(2|3)\.\d{1,2}\.\d{1,2}$")
_NAME_ATTEMPTS = 20


def check_airflow_version(version: str, offered: tuple[str, ...] | None = None) -> str:
    """A 2.x.y or 3.x.y version and, given ``offered`` (``airpool.airflow.versions``), one of those: a
    Deployment is created only on a version the installation has images for."""
    version = version.strip()
    if offered is not None and version not in offered:
        raise InvalidInput(
            f"airflowVersion {access.shown(version, 40)} is not offered on this installation; allowed: "
            f"{', '.join(offered)} (values.yaml airpool.airflow.versions)"
        )
    if not _AIRFLOW_VERSION.match(version):
        raise InvalidInput(f"airflowVersion {access.shown(version, 40)} is not supported; use a 2.x.y or 3.x.y release")
    return version


def check_namespace(namespace: str) -> str:
    problem = dns1123_label_problem(namespace)
    if problem:
        raise InvalidInput(f"namespace {access.shown(namespace)} {problem}")
    return namespace


def _urls(config: PlatformConfig, release_name: str, executor: Executor) -> list[dict[str, str]]:
    base = f"{config.deployments_url}/{release_name}"
    urls = [{"type": "airflow", "url": f"{base}/airflow"}]
    if executor is Executor.CELERY:
        urls.append({"type": "flower", "url": f"{base}/flower"})
    return urls


def nfs_unavailable(config: PlatformConfig) -> str | None:
    """Why this installation cannot take NFS DAG deploys (for forms to say before a user tries), or None."""
    if not config.deployments.nfs_dag_deploys:
        return (
            "NFS DAG deploys are not enabled on this installation; use image-based deploys, or ask an "
            f"administrator to set {ADVANCED}.nfsMountDagDeployment: true in values.yaml"
        )
    if config.pool is not None and not config.cluster_roles:
        return dags.NFS_WITHOUT_CLUSTER_ROLES
    return None


def git_sync_unavailable(config: PlatformConfig) -> str | None:
    """Why this installation cannot take git-sync DAG deploys (for forms to say before a user tries), or None."""
    if not config.deployments.git_sync_dag_deploys:
        return (
            "git-sync DAG deploys are not enabled on this installation; use image-based deploys, or ask an "
            f"administrator to set {ADVANCED}.gitSyncDagDeployment: true in values.yaml"
        )
    return None


#: The git-sync settings of a request, by the services' (snake_case) names.
GIT_SYNC_KEYS = ("repository_url", "branch_name", "rev", "dag_directory_location", "sync_interval")


def check_dag_deployment(
    config: PlatformConfig,
    requested: dags.DagDeploy | Mapping[str, Any] | None,
    *,
    credentials: dags.GitCredentials | None = None,
) -> dags.DagDeploy:
    """Validate the request and refuse NFS or git-sync where this installation cannot carry them, before anything
    is written.

    ``requested``: a ``DagDeploy`` or ``{"type": "image" | "nfs" | "git_sync", "nfs_location": "server:/path",
    "repository_url": ..., "branch_name": ..., "rev": ..., "dag_directory_location": ..., "sync_interval": 60}``;
    ``credentials``: git-sync's SSH key and known hosts (checked, never stored in the returned shape)."""
    if requested is None:
        if credentials is not None and credentials.given:
            dags.parse("image", credentials=credentials)  # names the field that needs git_sync
        return dags.IMAGE
    if isinstance(requested, dags.DagDeploy):
        git = requested.git.payload() if requested.git is not None else None
        chosen = dags.parse(requested.type.value, requested.nfs_location, git, credentials=credentials)
    else:
        git = {k: requested.get(k) for k in (*GIT_SYNC_KEYS, "ssh", "known_hosts") if k in requested}
        chosen = dags.parse(requested.get("type"), requested.get("nfs_location"), git, credentials=credentials)
    reason = nfs_unavailable(config) if chosen.is_nfs else None
    if chosen.is_git_sync:
        reason = git_sync_unavailable(config)
    if reason:
        raise InvalidInput(reason)
    return chosen


def _store_git_credentials(
    s: Session, deployment_id: str, chosen: dags.DagDeploy, credentials: dags.GitCredentials | None, *, at: datetime
) -> bool:
    """Keep (or drop) a git-sync Deployment's SSH key and known hosts in their own table; True when they changed.
    ``None`` fields of ``credentials`` keep what is stored; a Deployment that no longer uses SSH keeps nothing."""
    row = s.get(models.DeploymentGitCredentials, deployment_id)
    old = (row.ssh_key, row.known_hosts) if row is not None else ("", "")
    given = credentials or dags.GitCredentials()
    key = dags.check_ssh_key(given.ssh_key) if given.ssh_key else ("" if given.ssh_key == "" else old[0])
    known = (
        dags.check_known_hosts(given.known_hosts) if given.known_hosts else ("" if given.known_hosts == "" else old[1])
    )
    git = chosen.git
    if git is None or not git.ssh:
        key, known = "", ""
    elif not git.known_hosts:
        known = ""
    if (key, known) == old:
        return False
    if not key and not known:
        if row is not None:
            s.delete(row)
        return True
    if row is None:
        s.add(
            models.DeploymentGitCredentials(deployment_id=deployment_id, ssh_key=key, known_hosts=known, updated_at=at)
        )
    else:
        row.ssh_key, row.known_hosts, row.updated_at = key, known, at
    return True


def git_credentials(platform: Platform, deployment_id: str) -> dags.GitCredentials:
    """A git-sync Deployment's SSH key and known hosts, for commander's Secret (never for an API answer)."""
    with platform.db.read() as s:
        row = s.get(models.DeploymentGitCredentials, deployment_id)
        if row is None:
            return dags.GitCredentials(ssh_key="", known_hosts="")
        return dags.GitCredentials(ssh_key=row.ssh_key, known_hosts=row.known_hosts)


def _dag_payload(dag_deployment: dict[str, Any] | None) -> dict[str, object]:
    """What install/upgrade jobs carry so commander renders the DAG volume (nothing for image deploys)."""
    return {"dag_deployment": dag_deployment} if dag_deployment else {}


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else "?"


def _holder_note(s: Session, holder: models.Deployment) -> str:
    """Who holds a name: a live Deployment, one being deleted, or a soft-deleted one kept until releases_at,
    and how to free it."""
    ws = s.get(models.Workspace, holder.workspace_id)
    who = f"Deployment {holder.label!r} ({holder.id}) of workspace {ws.label if ws else holder.workspace_id!r}"
    if holder.deleted_at is None:
        return f"another {who}"
    if holder.status == DeploymentStatus.DELETING.value:
        return (
            f"{who}, deleted at {_when(holder.deleted_at)} and still being removed ({holder.status_message}); "
            f"the name is free once commander has removed it (retry now: `airpool deployment retry {holder.id}`)"
        )
    pooled = pool.is_pool_namespace(s, holder.namespace) and holder.active_namespace is not None
    early = (
        f"a system admin can free it now with `airpool pool release {holder.namespace}`"
        if pooled
        else "it is freed by the cleanup run after that"
    )
    return f"soft-deleted {who}, kept with its data until {_when(holder.releases_at)}; {early}"


def _release_name(s: Session, wanted: str | None) -> str:
    if wanted is not None:
        holder = s.scalars(sa.select(D).where(D.release_name == wanted)).first()
        if holder is not None:
            raise Conflict(f"release name {wanted!r} is held by {_holder_note(s, holder)}")
        return wanted
    for _ in range(_NAME_ATTEMPTS):
        name = spec.generate_release_name()
        if s.scalar(sa.select(D.id).where(D.release_name == name)) is None:
            return name
    raise Conflict("could not generate an unused release name; give one explicitly")


def _free_form_namespace(s: Session, config: PlatformConfig, namespace: str) -> str:
    reserved = {*SYSTEM_NAMESPACES, config.platform_namespace}
    if namespace in reserved:
        raise InvalidInput(f"namespace {namespace!r} is reserved; choose another name")
    if s.scalar(sa.select(D.id).where(D.active_namespace == namespace)) is not None:
        raise Conflict(f"namespace {namespace!r} is already used by another Deployment")
    return namespace


def _derived_namespace(config: PlatformConfig, release_name: str) -> str:
    name = f"{config.platform_release}-{release_name}"
    problem = dns1123_label_problem(name)
    if problem:
        raise InvalidInput(f"derived namespace {name!r} (platform release + release name) {problem}")
    return name


def create(
    platform: Platform,
    actor: Actor,
    *,
    workspace_id: str,
    label: str,
    executor: str | None = None,
    release_name: str | None = None,
    airflow_version: str | None = None,
    namespace: str | None = None,
    description: str = "",
    dag_deployment: dags.DagDeploy | Mapping[str, Any] | None = None,
    git_credentials: dags.GitCredentials | None = None,
) -> views.DeploymentView:
    """Create a Deployment and queue its install. Needs editor (or admin) in the workspace.

    ``executor`` / ``airflow_version`` default to the configuration's Airflow defaults; an empty ``namespace`` or
    ``release_name`` counts as not given; ``dag_deployment`` see ``check_dag_deployment`` (image by default).
    Raises InvalidInput, NotFound (workspace), Forbidden (viewer),
    Conflict (taken name/namespace) or PoolExhausted (message starts with "no kubernetes namespaces are
    available")."""
    config = platform.config
    label = spec.check_label(label)
    if len(description) > 10_000:
        raise InvalidInput(f"description is {len(description)} characters long; at most 10000 are allowed")
    chosen_executor = spec.parse_executor(executor or config.airflow.executor)
    dag_source = check_dag_deployment(config, dag_deployment, credentials=git_credentials)
    stored_dags = dag_source.payload() if dag_source.type is not dags.DagDeployType.IMAGE else None
    version = check_airflow_version(airflow_version or config.airflow.version, config.airflow.versions)
    wanted_release = (release_name or "").strip() or None
    if wanted_release is not None:
        spec.check_release_name(wanted_release)
    wanted_ns = (namespace or "").strip() or None
    if wanted_ns is not None:
        check_namespace(wanted_ns)
        if config.pool is None and not config.deployments.free_form:
            raise InvalidInput(
                f"namespace {wanted_ns!r} cannot be chosen on this installation: namespaces are named "
                f"{config.platform_release}-<release name>"
            )
    now = platform.now()
    stored = {
        "label": label,
        "description": description,
        "executor": chosen_executor.value,
        "airflow_version": version,
        "workspace_id": workspace_id,
        "status": DeploymentStatus.DEPLOYING.value,
        "status_message": "queued for install",
        "dag_deployment": stored_dags,
        "created_by": actor.user_id,
        "created_at": now,
        "updated_at": now,
    }
    # A generated release name is not looked up first: the unique index refuses the rare clash, and the whole
    # transaction (claim included) is tried again with a new name.
    attempts = 1 if wanted_release is not None else _NAME_ATTEMPTS
    for attempt in range(attempts):
        rname = wanted_release or spec.generate_release_name()
        values = {
            **stored,
            "id": str(uuid.uuid4()),
            "release_name": rname,
            "urls": _urls(config, rname, chosen_executor),
        }
        try:
            ns = None
            if config.pool is not None and not dag_source.is_git_sync:
                quick = _create_in_one_round_trip if platform.db.is_postgres else _create_in_few_statements
                ns = quick(
                    platform, actor, values, namespace=wanted_ns, dag_type=dag_source.type.value, retry=attempts > 1
                )
            if ns is None:
                with platform.db.write() as s:
                    access.require_role(s, actor, workspace_id, Role.EDITOR)
                    if wanted_release is not None:
                        _release_name(s, wanted_release)
                    ns = _insert(s, config, values, namespace=wanted_ns, dag_type=dag_source.type.value, actor=actor)
                    if dag_source.is_git_sync:
                        _store_git_credentials(s, str(values["id"]), dag_source, git_credentials, at=now)
        except IntegrityError as exc:
            if "release_name" in str(exc.orig) and attempt + 1 < attempts:
                continue
            # A concurrent request took the same release name or namespace between our check and our insert.
            raise Conflict("release name or namespace was just taken by another Deployment; try again") from exc
        return views.DeploymentView.of(D(**values, namespace=ns, active_namespace=ns))
    raise Conflict("could not generate an unused release name; give one explicitly")


def _job(values: dict[str, Any]) -> dict[str, Any]:
    now = values["created_at"]
    return {
        "kind": commander_jobs.JobKind.INSTALL.value,
        "deployment_id": values["id"],
        "payload": _dag_payload(values["dag_deployment"]),
        "state": commander_jobs.JobState.QUEUED.value,
        "attempts": 0,
        "max_attempts": commander_jobs.DEFAULT_MAX_ATTEMPTS,
        "run_after": now,
        "created_at": now,
        "updated_at": now,
        "last_error": "",
    }


def _insert(
    s: Session, config: PlatformConfig, values: dict[str, Any], *, namespace: str | None, dag_type: str, actor: Actor
) -> str:
    """Claim (or name) the namespace, insert the Deployment, queue its install job and record the audit event, in
    the caller's transaction, step by step (Core statements, no ORM unit of work); returns the namespace. The path
    of SQLite, of installations without a pool, and of every create the one-statement path of PostgreSQL
    (``_create_in_one_round_trip``) did not carry out: here each refusal is named precisely."""
    dep_id, now = values["id"], values["created_at"]
    if config.pool is not None:
        ns = pool.claim(s, deployment_id=dep_id, namespace=namespace, at=now)
    elif namespace is not None:
        ns = _free_form_namespace(s, config, namespace)
    else:
        ns = _derived_namespace(config, values["release_name"])
    s.execute(sa.insert(D).values(**_nullable(values), namespace=ns, active_namespace=ns))
    s.execute(sa.insert(models.CommanderJob).values(**_job(values), namespace=ns))
    engine.wake_after_commit(s)
    event = {
        "at": now,
        "actor": actor.username,
        "action": "deployment.create",
        "target_kind": "deployment",
        "target_id": dep_id,
        "workspace_id": values["workspace_id"],
        "detail": {"release_name": values["release_name"], "dag_deployment": dag_type, "namespace": ns},
    }
    s.execute(sa.insert(models.AuditEvent).values(**event))
    return ns


def _update_reason(changed: Mapping[str, str]) -> str:
    """Why an update's upgrade job runs, in words a user reads on the Deployment page and in ``deployment jobs``:
    ``settings changed: executor CeleryExecutor, sizes of workers``."""
    words: dict[str, Callable[[str], str]] = {
        "label": lambda _: "label",
        "description": lambda _: "description",
        "executor": lambda v: f"executor {v}",
        "desired_airflow_version": lambda v: f"Airflow {v}",
        "dag_deployment": lambda v: f"DAG deploy {v}",
        "config": lambda v: f"sizes of {v}",
    }
    return "settings changed: " + ", ".join(words[key](value) for key, value in changed.items() if key in words)


def _nullable(values: dict[str, Any]) -> dict[str, Any]:
    """JSON columns store SQL NULL (not JSON ``null``) for None, as the ORM did."""
    return {k: sa.null() if v is None else v for k, v in values.items()}


def _create_in_one_round_trip(
    platform: Platform, actor: Actor, values: dict[str, Any], *, namespace: str | None, dag_type: str, retry: bool
) -> str | None:
    """PostgreSQL with a pool: the whole create as ONE statement in autocommit (atomic on its own), so a create
    is one round trip after the caller's token check: the role check, the claim's compare-and-set (``WHERE state
    = 'available'``, ``SKIP LOCKED`` when picking), the Deployment, its install job and the audit event. Returns
    the namespace, or None when the statement changed nothing -- no role, no such workspace, no free namespace,
    a taken name, a value the database refuses -- and the step-by-step path must say why (or, if a namespace was
    freed meanwhile, claim it).
    A generated release name that clashes raises ``IntegrityError`` when ``retry``, so the caller draws another."""
    member = _needs_membership(actor, values["workspace_id"])
    if member is None:
        return None
    nulls = frozenset(k for k, v in values.items() if v is None)
    key = (namespace is not None, member, nulls, tuple(values))
    statement = _ONE_STATEMENT.get(key)
    if statement is None:
        statement = _ONE_STATEMENT[key] = _one_statement(values, namespace=namespace is not None, member=member)
    params = _params(actor, values, namespace=namespace, dag_type=dag_type)
    try:
        with platform.db.statement() as conn:
            claimed = conn.execute(statement, params).scalar()
    except IntegrityError as exc:
        if retry and "release_name" in str(exc.orig):
            raise
        return None  # a taken name or namespace: the step-by-step path names it
    except DataError:
        return None  # a value the database refuses (a 10,000-character workspace id): the step-by-step path names it
    if claimed is None:
        return None
    platform.db.work_queued.set()
    return str(claimed)


def _needs_membership(actor: Actor, workspace_id: str) -> bool | None:
    """How the quick paths check the caller's editor role: False when the workspace's existence is enough (a
    system admin or editor, a workspace service account of that workspace with editor), True when the caller's
    own or teams' bindings must say so; None when the caller cannot create there (the step-by-step path says
    why)."""
    if actor.service_account is not None:
        scope = actor.service_account
        if scope.workspace_id != workspace_id or not access.role_allows(scope.role, Role.EDITOR):
            return None
        return False
    return not actor.is_system_admin and not (
        actor.system_role is not None and access.role_allows(actor.system_role, Role.EDITOR)
    )


def _params(actor: Actor, values: dict[str, Any], *, namespace: str | None, dag_type: str) -> dict[str, Any]:
    """The quick paths' parameters (see ``_one_statement`` for their names)."""
    params = {f"{k}_0": v for k, v in values.items() if v is not None}
    params.update(
        job_payload_0=_dag_payload(values["dag_deployment"]),
        actor_name_0=actor.username,
        actor_id_0=actor.user_id,
        dag_type_0=dag_type,
    )
    if namespace is not None:
        params["wanted_namespace_0"] = namespace
    return params


def _create_in_few_statements(
    platform: Platform, actor: Actor, values: dict[str, Any], *, namespace: str | None, dag_type: str, retry: bool
) -> str | None:
    """SQLite with a pool: the role check, the claim (``UPDATE ... RETURNING``, its compare-and-set kept) and the
    three inserts as statements built once and executed with parameters on the transaction's connection, so the
    process-wide writer lock is held for the statements alone, not for building them. Returns the namespace, or
    None when nothing was written and the step-by-step path must say why (see ``_create_in_one_round_trip``)."""
    member = _needs_membership(actor, values["workspace_id"])
    if member is None:
        return None
    nulls = frozenset(k for k, v in values.items() if v is None)
    key = (namespace is not None, member, nulls, tuple(values))
    statements = _FEW_STATEMENTS.get(key)
    if statements is None:
        statements = _FEW_STATEMENTS[key] = _few_statements(values, namespace=namespace is not None, member=member)
    allowed, claim, insert_deployment, insert_job, insert_event = statements
    params = _params(actor, values, namespace=namespace, dag_type=dag_type)
    try:
        with platform.db.write() as s:
            conn = s.connection()
            if not conn.execute(allowed, params).scalar():
                return None
            claimed = conn.execute(claim, params).scalar()
            if claimed is None:
                return None
            params["namespace_0"] = claimed
            params["detail_0"] = {
                "release_name": values["release_name"],
                "dag_deployment": dag_type,
                "namespace": claimed,
            }
            conn.execute(insert_deployment, params)
            conn.execute(insert_job, params)
            conn.execute(insert_event, params)
            engine.wake_after_commit(s)
    except IntegrityError as exc:
        if retry and "release_name" in str(exc.orig):
            raise
        return None
    except DataError:
        return None  # a value the database refuses: the step-by-step path names it
    return str(claimed)


#: The few-statement creates built so far, by shape (see ``_create_in_few_statements``).
_FEW_STATEMENTS: dict[tuple[Any, ...], tuple[sa.Executable, ...]] = {}


def _param(model: Any, column: str, name: str | None = None) -> sa.BindParameter[Any]:
    """A named parameter ``<name or column>_0`` typed like ``model``'s column (see ``_one_statement``)."""
    table = model.__table__
    assert isinstance(table, sa.Table)
    return sa.bindparam(f"{name or column}_0", type_=table.c[column].type)


def _may_create(*, member: bool) -> sa.ColumnElement[bool]:
    """The workspace exists and, for a ``member`` (not an admin), the actor holds editor in it."""
    workspace = _param(D, "workspace_id")
    allowed: sa.ColumnElement[bool] = sa.exists().where(models.Workspace.id == workspace)
    if member:
        allowed = allowed & access.holds_role(workspace, sa.bindparam("actor_id_0", type_=sa.String()), Role.EDITOR)
    return allowed


def _claim(*, namespace: bool, skip_locked: bool, also: sa.ColumnElement[bool] | None = None) -> sa.Update:
    """The claim's compare-and-set: the wanted namespace (``wanted_namespace_0``) or the first available one, only
    while it is available (and ``also`` holds); returns the name claimed."""
    P = models.PoolNamespace
    if namespace:
        target: Any = sa.bindparam("wanted_namespace_0", type_=P.name.type)
    else:
        pick = sa.select(P.name).where(P.state == "available").order_by(P.name).limit(1)
        target = (pick.with_for_update(skip_locked=True) if skip_locked else pick).scalar_subquery()
    conditions = [P.name == target, P.state == "available", *([also] if also is not None else [])]
    now = _param(D, "created_at")
    return (
        sa.update(P)
        .where(*conditions)
        .values(state="claimed", state_since=now, version=P.version + 1, holder_id=_param(D, "id"), releases_at=None)
        .returning(P.name)
    )


def _install_job() -> dict[str, Any]:
    """The install job's columns but its namespace."""
    now = _param(D, "created_at")
    return {
        "kind": sa.literal(commander_jobs.JobKind.INSTALL.value),
        "deployment_id": _param(D, "id"),
        "payload": _param(models.CommanderJob, "payload", "job_payload"),
        "state": sa.literal(commander_jobs.JobState.QUEUED.value),
        "attempts": sa.literal(0),
        "max_attempts": sa.literal(commander_jobs.DEFAULT_MAX_ATTEMPTS),
        "run_after": now,
        "created_at": now,
        "updated_at": now,
        "last_error": sa.literal(""),
    }


def _create_event(detail: Any) -> dict[str, Any]:
    """The audit event of a create, with ``detail`` as given."""
    return {
        "at": _param(D, "created_at"),
        "actor": sa.bindparam("actor_name_0", type_=sa.String()),
        "action": sa.literal("deployment.create"),
        "target_kind": sa.literal("deployment"),
        "target_id": _param(D, "id"),
        "workspace_id": _param(D, "workspace_id"),
        "detail": detail,
    }


def _few_statements(values: dict[str, Any], *, namespace: bool, member: bool) -> tuple[sa.Executable, ...]:
    """``_create_in_few_statements``'s statements, with ``_one_statement``'s parameter names and ``namespace_0``
    (the claimed namespace) and ``detail_0`` (the audit event's detail)."""
    ns = sa.bindparam("namespace_0", type_=models.PoolNamespace.name.type)
    row = {k: sa.null() if values[k] is None else _param(D, k) for k in values}
    return (
        sa.select(_may_create(member=member)),
        _claim(namespace=namespace, skip_locked=False),
        sa.insert(D).values(**row, namespace=ns, active_namespace=ns),
        sa.insert(models.CommanderJob).values(**_install_job(), namespace=ns),
        sa.insert(models.AuditEvent).values(**_create_event(_param(models.AuditEvent, "detail"))),
    )


#: The one-statement creates built so far, by shape (see ``_create_in_one_round_trip``): a handful at most.
_ONE_STATEMENT: dict[tuple[Any, ...], sa.Select[tuple[str]]] = {}


def _one_statement(values: dict[str, Any], *, namespace: bool, member: bool) -> sa.Select[tuple[str]]:
    """The statement of ``_create_in_one_round_trip`` with named parameters: ``<column>_0`` for the Deployment's
    columns, ``wanted_namespace_0``, ``job_payload_0``, ``actor_name_0``, ``actor_id_0`` and ``dag_type_0``. The
    suffix keeps every name off the columns of the tables written (a parameter named after a column of an INSERT
    or UPDATE would also set that column), and the store's NUL check drops it to name the column. The claim's
    UPDATE and the three INSERTs are data-modifying CTEs; no row claimed means nothing inserted."""
    claimed = _claim(namespace=namespace, skip_locked=True, also=_may_create(member=member)).cte("claimed")
    columns = list(values)
    dep = (
        sa.insert(D)
        .from_select(
            [*columns, "namespace", "active_namespace"],
            sa.select(
                *(sa.null() if values[k] is None else _param(D, k) for k in columns),
                claimed.c.name,
                claimed.c.name,
            ),
        )
        .returning(D.namespace)
        .cte("dep")
    )
    job = _install_job()
    queued = (
        sa.insert(models.CommanderJob)
        .from_select([*job, "namespace"], sa.select(*job.values(), dep.c.namespace))
        .returning(models.CommanderJob.id)
        .cte("queued")
    )
    detail = sa.func.json_build_object(
        sa.literal("release_name"),
        _param(D, "release_name"),
        sa.literal("dag_deployment"),
        sa.bindparam("dag_type_0", type_=sa.String()),
        sa.literal("namespace"),
        dep.c.namespace,
        type_=sa.JSON,
    )
    event = _create_event(detail)
    audited = (
        sa.insert(models.AuditEvent)
        .from_select(list(event), sa.select(*event.values()))
        .returning(models.AuditEvent.id)
        .cte("audited")
    )
    return sa.select(dep.c.namespace).add_cte(queued, audited)


def _visible(s: Session, actor: Actor, deployment_id: str, minimum: Role, *, lock: bool = False) -> models.Deployment:
    """The live Deployment if the caller holds ``minimum`` in its workspace; ``lock`` serialises concurrent
    changes of the same Deployment (two deletes: the second sees it gone)."""
    dep = s.get(D, deployment_id, with_for_update=lock)
    if dep is None or dep.deleted_at is not None:
        raise access.deployment_not_found(deployment_id)
    # Deleting takes a Deployment admin, or an editor of the workspace (who may create them too).
    or_workspace = Role.EDITOR if minimum is Role.ADMIN else None
    access.require_deployment(s, actor, dep, minimum, or_workspace=or_workspace)
    return dep


def get(platform: Platform, actor: Actor, deployment_id: str) -> views.DeploymentView:
    with platform.db.read() as s:
        return views.DeploymentView.of(_visible(s, actor, deployment_id, Role.VIEWER))


def list_for_workspace(
    platform: Platform, actor: Actor, workspace_id: str, *, release_name: str | None = None
) -> list[views.DeploymentView]:
    """Live Deployments of one workspace, oldest first (Houston ``workspaceDeployments``)."""
    with platform.db.read() as s:
        access.require_role(s, actor, workspace_id, Role.VIEWER)
        q = sa.select(D).where(D.workspace_id == workspace_id, D.deleted_at.is_(None)).order_by(D.created_at, D.id)
        if release_name:
            q = q.where(D.release_name == release_name)
        return [views.DeploymentView.of(d) for d in s.scalars(q)]


def list_visible(
    platform: Platform, actor: Actor, *, take: int | None = None, offset: int = 0, name: str | None = None
) -> list[views.DeploymentView]:
    """Live Deployments of every workspace the caller may read (``paginatedDeployments``; take < 0 = all).

    ``name`` filters on a substring of the label or release name."""
    with platform.db.read() as s:
        q = (
            sa.select(D)
            .where(D.deleted_at.is_(None), access.visible_deployments(actor))
            .order_by(D.created_at, D.id)
            .offset(max(offset, 0))
        )
        if name:
            pattern = f"%{name}%"
            q = q.where(sa.or_(D.label.ilike(pattern), D.release_name.ilike(pattern)))
        if take is not None and take >= 0:
            q = q.limit(take)
        return [views.DeploymentView.of(d) for d in s.scalars(q)]


def effective_hard_delete(config: PlatformConfig, requested: bool | None) -> bool:
    """See the module docstring: configuration allows, the request may only make it softer."""
    if not config.deployments.hard_delete:
        return False
    return True if requested is None else requested


def _already_deleted(s: Session, actor: Actor, deployment_id: str) -> None:
    """A delete of a Deployment that is already deleted tells where its deletion stands (not NOT_FOUND), to
    whoever may see it."""
    dep = s.get(D, deployment_id)
    if dep is None or dep.deleted_at is None:
        return
    try:
        access.require_role(s, actor, dep.workspace_id, Role.VIEWER)
    except NotFound:
        return
    raise Conflict(f"Deployment {dep.release_name} is already deleted: {deletion_note(s, dep)}")


def deletion_note(s: Session, dep: models.Deployment) -> str:
    """Where a deleted Deployment's removal stands, and what can be done about it."""
    since = _when(dep.deleted_at)
    if dep.status == DeploymentStatus.DELETING.value:
        return (
            f"deleted at {since}, commander is still removing its objects from namespace {dep.namespace}: "
            f"{dep.status_message}. It retries by itself; retry now with `airpool deployment retry {dep.id}`, "
            f"or a system admin gives up on the removal with `airpool pool release --force {dep.namespace}`"
        )
    return f"soft-deleted at {since}; {_holder_note(s, dep)}"


def deletion(platform: Platform, actor: Actor, deployment_id: str) -> views.DeploymentView | None:
    """A deleted Deployment while its record remains (being removed, or soft-deleted and kept); None once it is
    gone for good. A live one is NOT_FOUND here (``get`` shows it). Needs viewer in its workspace."""
    with platform.db.read() as s:
        dep = s.get(D, deployment_id)
        if dep is None:
            return None
        try:
            access.require_role(s, actor, dep.workspace_id, Role.VIEWER)
        except NotFound:
            raise access.deployment_not_found(deployment_id) from None
        if dep.deleted_at is None:
            raise NotFound(f"Deployment {dep.release_name} is not deleted")
        return views.DeploymentView.of(dep)


def list_deleted(platform: Platform, actor: Actor, workspace_id: str) -> list[views.DeploymentView]:
    """A workspace's deleted Deployments whose record remains (being removed, or soft-deleted and kept until
    ``releases_at``), newest deletion first: what still holds their namespace and release name."""
    with platform.db.read() as s:
        access.require_role(s, actor, workspace_id, Role.VIEWER)
        q = (
            sa.select(D)
            .where(D.workspace_id == workspace_id, D.deleted_at.is_not(None))
            .order_by(D.deleted_at.desc(), D.id)
        )
        return [views.DeploymentView.of(d) for d in s.scalars(q)]


def delete(platform: Platform, actor: Actor, deployment_id: str, *, hard: bool | None = None) -> views.DeploymentView:
    """Request deletion: the namespace goes claimed -> releasing and commander gets an ``uninstall`` job.

    Returns the Deployment as it was deleted (``hard_delete``, ``releases_at`` set). Needs Deployment admin or
    workspace editor (``services.access``). Deleting an already deleted Deployment is a Conflict that says where
    its removal stands."""
    config = platform.config
    now = platform.now()
    with platform.db.write() as s:
        _already_deleted(s, actor, deployment_id)
        dep = _visible(s, actor, deployment_id, Role.ADMIN, lock=True)
        is_hard = effective_hard_delete(config, hard)
        dep.deleted_at = now
        dep.hard_delete = is_hard
        dep.releases_at = None if is_hard else now + timedelta(days=config.retention_days)
        dep.status = DeploymentStatus.DELETING.value
        dep.status_message = "queued for uninstall"
        dep.updated_at = now
        pool.start_release(s, deployment_id=dep.id, namespace=dep.namespace, at=now)
        commander_jobs.cancel_queued(
            s, deployment_id=dep.id, kinds=(commander_jobs.JobKind.INSTALL, commander_jobs.JobKind.UPGRADE), at=now
        )
        commander_jobs.enqueue(
            s,
            kind=commander_jobs.JobKind.UNINSTALL,
            at=now,
            deployment_id=dep.id,
            namespace=dep.namespace,
            payload=commander_jobs.uninstall_payload(dep),
        )
        audit.record(
            s,
            actor=actor.username,
            action="deployment.delete",
            target_kind="deployment",
            target_id=dep.id,
            workspace_id=dep.workspace_id,
            detail={"hard": is_hard, "namespace": dep.namespace, "release_name": dep.release_name},
            at=now,
        )
        return views.DeploymentView.of(dep)


def update(
    platform: Platform,
    actor: Actor,
    deployment_id: str,
    *,
    label: str | None = None,
    description: str | None = None,
    executor: str | None = None,
    airflow_version: str | None = None,
    config: Mapping[str, Any] | None = None,
    triggerer_replicas: int | None = None,
    dag_deployment: Mapping[str, Any] | None = None,
    git_credentials: dags.GitCredentials | None = None,
) -> views.DeploymentView:
    """Change a live Deployment; a new executor, Airflow version or size queues an ``upgrade`` job (commander
    re-renders and applies). Needs editor.

    ``config``: Houston's ``config`` payload (``domain.sizes``), checked against ``airpool.deploymentSizes``;
    ``triggerer_replicas``: Houston's ``triggerer: {replicas}``. A refusal names the field and the limit and
    changes nothing.

    ``dag_deployment`` / ``git_credentials``: a new DAG deploy choice (see ``check_dag_deployment``); git-sync
    settings not given keep their stored values, and so does a stored SSH key. Moving to or from NFS is refused
    (its PersistentVolume is made at install only)."""
    if triggerer_replicas is not None:
        config = {
            **(config or {}),
            "triggerer": {**dict((config or {}).get("triggerer") or {}), "replicas": triggerer_replicas},
        }
    new_label = spec.check_label(label) if label is not None else None
    new_executor = spec.parse_executor(executor) if executor else None
    new_version = airflow_version.strip() if airflow_version else None
    defaults = {name: limits.default for name, limits in platform.config.deployment_sizes}
    if description is not None and len(description) > 10_000:
        raise InvalidInput(f"description is {len(description)} characters long; at most 10000 are allowed")
    now = platform.now()
    with platform.db.write() as s:
        dep = _visible(s, actor, deployment_id, Role.EDITOR, lock=True)
        changed: dict[str, str] = {}
        if new_label is not None and new_label != dep.label:
            dep.label = changed["label"] = new_label
        if description is not None and description != dep.description:
            dep.description = description
            changed["description"] = "changed"
        upgrade = False
        if new_executor is not None and new_executor.value != dep.executor:
            dep.executor = changed["executor"] = new_executor.value
            dep.urls = _urls(platform.config, dep.release_name, new_executor)
            upgrade = True
        if new_version is not None and new_version != dep.airflow_version:
            # The same rules and phases as Houston's updateDeploymentAirflow (imported here: upgrades uses this
            # module's lookups).
            from airpool.services import upgrades

            before = dep.desired_airflow_version
            queued = upgrades.request_upgrade(s, platform, dep, new_version, now=now, job=False)
            if dep.desired_airflow_version != before:
                changed["desired_airflow_version"] = new_version
            upgrade = upgrade or queued
        asks_dags = dag_deployment is not None or (git_credentials is not None and git_credentials.given)
        if asks_dags and _change_dags(s, platform.config, dep, dag_deployment, git_credentials, at=now):
            changed["dag_deployment"] = str((dep.dag_deployment or {}).get("type", "image"))
            upgrade = True
        if config is not None:
            stored = dict(dep.config or {})
            current = sizes.from_stored(stored, defaults)
            chosen = sizes.check_config(config, current, platform.config.size_limits)
            resized = {
                name: chosen[name].as_config()
                for name in sizes.COMPONENTS
                if name in stored or (name in config and config[name] is not None)
            }
            if resized != stored:
                dep.config = resized
                changed["config"] = ", ".join(sorted(n for n in resized if resized[n] != stored.get(n)))
                upgrade = True
        if not changed:
            return views.DeploymentView.of(dep)
        dep.updated_at = now
        if upgrade:
            dep.status = DeploymentStatus.DEPLOYING.value
            dep.status_message = "queued for upgrade"
            commander_jobs.cancel_queued(s, deployment_id=dep.id, kinds=(commander_jobs.JobKind.UPGRADE,), at=now)
            commander_jobs.enqueue(
                s,
                kind=commander_jobs.JobKind.UPGRADE,
                at=now,
                deployment_id=dep.id,
                namespace=dep.namespace,
                payload={**_dag_payload(dep.dag_deployment), "reason": _update_reason(changed)},
            )
        audit.record(
            s,
            actor=actor.username,
            action="deployment.update",
            target_kind="deployment",
            target_id=dep.id,
            workspace_id=dep.workspace_id,
            detail=changed,
            at=now,
        )
        return views.DeploymentView.of(dep)


def _change_dags(
    s: Session,
    config: PlatformConfig,
    dep: models.Deployment,
    requested: Mapping[str, Any] | None,
    credentials: dags.GitCredentials | None,
    *,
    at: datetime,
) -> bool:
    """Apply a DAG deploy change to ``dep`` (and its credentials); True when anything changed."""
    current = dags.from_payload(dep.dag_deployment)
    wanted = dict(requested or {"type": current.type.value})
    kind = str(wanted.get("type") or current.type.value).strip().lower()
    wanted["type"] = kind
    if (kind == dags.DagDeployType.NFS.value) != current.is_nfs or (
        current.is_nfs and (wanted.get("nfs_location") or current.nfs_location) != current.nfs_location
    ):
        raise InvalidInput(
            "dagDeployment cannot be changed to or from NFS (volume) on an existing Deployment: its "
            "PersistentVolume is made at install; create a new Deployment for that"
        )
    if kind == dags.DagDeployType.GIT_SYNC.value and current.git is not None:
        # Settings not given keep their stored values (the CLI sends only the flags a user gave).
        for key, value in current.git.payload().items():
            if wanted.get(key) in (None, "") and key in GIT_SYNC_KEYS:
                wanted[key] = value
        new_url = str(wanted.get("repository_url") or "")
        keeps_ssh = dags.is_ssh_url(new_url)
        given = credentials or dags.GitCredentials()
        if given.ssh_key is None:
            wanted["ssh"] = current.git.ssh and keeps_ssh
            if not keeps_ssh:
                credentials = dags.GitCredentials(ssh_key="", known_hosts="")
        if given.known_hosts is None:
            wanted["known_hosts"] = current.git.known_hosts and bool(wanted.get("ssh", current.git.ssh)) and keeps_ssh
    chosen = check_dag_deployment(config, wanted, credentials=credentials)
    stored = chosen.payload() if chosen.type is not dags.DagDeployType.IMAGE else None
    secrets_changed = _store_git_credentials(s, dep.id, chosen, credentials, at=at)
    if stored == dep.dag_deployment and not secrets_changed:
        return False
    dep.dag_deployment = stored
    return True


def effective_sizes(config: PlatformConfig, dep: views.DeploymentView) -> dict[str, dict[str, Any]]:
    """Every component's replicas and resources (Houston's ``config``): what the user set, else the defaults."""
    defaults = {name: limits.default for name, limits in config.deployment_sizes}
    chosen = sizes.from_stored(dep.config, defaults)
    return {name: chosen[name].as_config() for name in sizes.COMPONENTS}


def size_settings(config: PlatformConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """(defaults, limits) per component, as ``deploymentConfig`` shows them."""
    defaults = {name: limits.default.as_config() for name, limits in config.deployment_sizes}
    limits = {
        name: {
            "minReplicas": limit.min_replicas,
            "maxReplicas": limit.max_replicas,
            "resources": {"limits": {"cpu": limit.max_limits.cpu, "memory": limit.max_limits.memory}},
        }
        for name, limit in config.deployment_sizes
    }
    return defaults, limits


def find(
    platform: Platform, actor: Actor, *, deployment_id: str | None = None, release_name: str | None = None
) -> views.DeploymentView | None:
    """A live Deployment the caller may see, by id or release name; None when there is none (or not for them)."""
    with platform.db.read() as s:
        dep: models.Deployment | None = None
        if deployment_id:
            try:
                uuid.UUID(deployment_id)
            except ValueError:
                raise InvalidInput(f"deployment id {access.shown(deployment_id, 40)} is not a UUID") from None
            dep = s.get(D, deployment_id)
        elif release_name:
            dep = s.scalars(sa.select(D).where(D.release_name == release_name, D.deleted_at.is_(None))).first()
        if dep is None or dep.deleted_at is not None:
            return None
        try:
            access.require_deployment(s, actor, dep, Role.VIEWER)
        except NotFound:
            return None
        return views.DeploymentView.of(dep)


def quota_preview(
    platform: Platform, actor: Actor, deployment_id: str, config: Mapping[str, Any] | None = None
) -> dict[str, dict[str, str]]:
    """What the namespace's ResourceQuota ``hard`` and LimitRange ``max`` would be with ``config`` (Houston's
    payload, checked as ``update`` checks it; None: as the Deployment is now). Writes nothing; needs viewer."""
    from airpool.manifests.airflow import limits
    from airpool.manifests.airflow.spec import AirflowSpec

    dep = get(platform, actor, deployment_id)
    defaults = {name: size.default for name, size in platform.config.deployment_sizes}
    stored = dict(dep.config or {})
    current = sizes.from_stored(stored, defaults)
    chosen = sizes.check_config(config, current, platform.config.size_limits) if config else current
    resized = {n for n in sizes.COMPONENTS if n in stored or (config and config.get(n) is not None)}
    spec = AirflowSpec(
        deployment_id=dep.id,
        release_name=dep.release_name,
        namespace=dep.namespace,
        executor=dep.executor,
        airflow_version=dep.airflow_version,
        sizes=tuple((n, chosen[n]) for n in sizes.COMPONENTS if n in resized),
    )
    return {"quota": limits.quota_hard(spec), "container_max": limits.container_max(spec)}
