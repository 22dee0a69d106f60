"""``airpool config validate | render | apply``: the platform admin's side of the namespace pool.

These commands work on values files and a kubeconfig directly (no server), like ``helm template`` and
``helm upgrade``. Output meant for pipes (render's YAML) goes to stdout alone; warnings and notes go to stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

app = typer.Typer(
    help="Check values.yaml, render the cluster objects the platform needs, and apply them as an admin.",
    no_args_is_help=True,
)

VALUES_HELP = "A values file; repeat to merge several (later files win, like helm -f)."


def _values_option() -> Any:
    return typer.Option(..., "--values", "-f", help=VALUES_HELP, dir_okay=False)


def _kubeconfig_option(help_text: str) -> Any:
    return typer.Option(None, "--kubeconfig", help=help_text, dir_okay=False)


def _error(message: str) -> typer.Exit:
    typer.secho(f"Error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(1)


def _load(values: list[Path]) -> Any:
    from airpool import config

    try:
        return config.load(values)
    except config.ConfigError as exc:
        raise _error(exc.message) from None


def _notes(cfg: Any) -> None:
    """Warnings and ignored keys, on stderr so they never mix with rendered YAML."""
    for warning in cfg.warnings:
        typer.secho(f"Warning: {warning}", err=True, fg=typer.colors.YELLOW)
    if cfg.ignored_keys:
        typer.echo(
            f"Note: ignored {len(cfg.ignored_keys)} Astronomer chart key(s) airpool does not use: "
            + ", ".join(cfg.ignored_keys),
            err=True,
        )


#: What an unset ``airpool.airflow.databaseAdminUrl`` means, said by ``validate`` (and docs/configuration.md).
IN_NAMESPACE_DATABASE_NOTE = (
    "Note: airpool.airflow.databaseAdminUrl is unset, so each Deployment's Airflow metadata database (DAG runs, "
    "task history, connections, variables) runs as a PostgreSQL pod inside the Deployment's own namespace, with "
    "its data on a PersistentVolumeClaim (airpool.airflow.postgresql.persistence): nothing backs it up, and a hard "
    "delete removes it. Fine for trying airpool; for production set databaseAdminUrl to a PostgreSQL server you "
    "back up (commander creates one database per Deployment there)."
)
#: The same without persistence.
IN_NAMESPACE_EPHEMERAL_NOTE = (
    "Note: airpool.airflow.databaseAdminUrl is unset and airpool.airflow.postgresql.persistence.enabled is false, "
    "so each Deployment's Airflow metadata database (DAG runs, task history, connections, variables) runs as a "
    "PostgreSQL pod inside the Deployment's own namespace, on an emptyDir volume: it is lost when that pod is "
    "deleted or rescheduled, nothing backs it up, and deleting the Deployment removes it, even a soft delete. Fine "
    "for trying airpool; for production set databaseAdminUrl to a PostgreSQL server you back up."
)


@app.command()
def validate(
    values: list[Path] = _values_option(),
    kubeconfig: Path | None = _kubeconfig_option(
        "Also check each pool namespace in this cluster (read as the kubeconfig's user, e.g. an admin): that it "
        "exists and which of commander's permissions its Roles lack."
    ),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when commander lacks any needed permission."),
) -> None:
    """Check values files and print the effective configuration and its warnings (exit 0 valid, 1 invalid)."""
    import yaml

    from airpool.config import describe

    cfg = _load(values)
    typer.echo(yaml.safe_dump(describe.describe(cfg), sort_keys=False, default_flow_style=False), nl=False)
    _notes(cfg)
    if cfg.airflow.database_admin_url is None:
        persistent = cfg.airflow.postgresql_persistence.enabled
        typer.echo(IN_NAMESPACE_DATABASE_NOTE if persistent else IN_NAMESPACE_EPHEMERAL_NOTE, err=True)
    ok = True
    if kubeconfig is not None:
        ok = _check_cluster(cfg, kubeconfig, strict=strict)
    typer.echo("configuration is valid" if ok else "configuration is valid, but the cluster is not ready for it")
    if not ok:
        raise typer.Exit(1)


def _check_cluster(cfg: Any, kubeconfig: Path, *, strict: bool) -> bool:
    from airpool.commander import preflight
    from airpool.kube import apply, client, grants

    ok = _report_leftover_rights(cfg, kubeconfig, strict=strict)
    if cfg.pool is None:
        typer.echo("cluster: no namespace pool configured; nothing to check per namespace")
        return ok
    # The very checks commander's preflight makes before it puts any Deployment into a pool namespace.
    needed = preflight.pool_namespace_needs().namespaced
    account, home = cfg.commander_service_account, cfg.platform_namespace
    try:
        with apply.cluster_errors():
            kube = client.connect(kubeconfig, field_manager=client.ADMIN_FIELD_MANAGER)
            cluster = grants.cluster_wide(kube, account=account, account_namespace=home)
            verdicts: dict[str, int] = {}
            for name in cfg.pool.names:
                found = grants.in_namespace(kube, name, account=account, account_namespace=home, cluster=cluster)
                verdict = _report_namespace(found, needed, account=f"{home}/{account}")
                verdicts[verdict] = verdicts.get(verdict, 0) + 1
                ok = ok and verdict in (_OK, "" if strict else _LACKING)
    except apply.ApplyError as exc:
        raise _error(exc.message) from None
    # With thousands of names the lines above scroll away: one line says how many of each there are.
    counts = ", ".join(f"{verdicts[v]} {v}" for v in (_OK, _LACKING, _MISSING, _UNUSABLE) if verdicts.get(v))
    typer.echo(f"{len(cfg.pool.names)} pool namespace(s) checked: {counts}")
    return ok


def _report_leftover_rights(cfg: Any, kubeconfig: Path, *, strict: bool) -> bool:
    """Cluster-wide rights commander still holds that this configuration does not grant: airpool's own (``config
    apply`` removes them) and any other ClusterRoleBinding naming commander's service account (the admin's)."""
    from lightkube.resources.rbac_authorization_v1 import ClusterRoleBinding

    from airpool.kube import apply, client
    from airpool.manifests import pool

    account, home = cfg.commander_service_account, cfg.platform_namespace
    rendered = pool.render(cfg)
    try:
        with apply.cluster_errors():
            kube = client.connect(kubeconfig, field_manager=client.ADMIN_FIELD_MANAGER)
            ours = apply.stale_cluster_rbac(kube, rendered, labels=pool.labels(cfg))
            wanted = {obj["metadata"]["name"] for obj in rendered if obj["kind"] == "ClusterRoleBinding"}
            theirs = [
                str(binding.metadata.name)
                for binding in kube.list(ClusterRoleBinding)
                if binding.metadata is not None
                and binding.metadata.name not in wanted
                and (binding.metadata.labels or {}).get(pool.MANAGED_BY) != pool.MANAGED_BY_VALUE
                and any(
                    s.kind == "ServiceAccount" and s.name == account and s.namespace == home
                    for s in binding.subjects or ()
                )
            ]
    except apply.ApplyError as exc:
        raise _error(exc.message) from None
    for kind, name in ours:
        typer.secho(
            f"cluster-wide: {kind} {name} (created by airpool) still grants commander rights this configuration "
            "does not give; `airpool config apply` removes it",
            fg=typer.colors.YELLOW,
        )
    for name in theirs:
        typer.secho(
            f"cluster-wide: ClusterRoleBinding {name} (not airpool's) binds {home}/{account} cluster-wide; this "
            "configuration does not need it: remove it yourself if nothing else does",
            fg=typer.colors.YELLOW,
        )
    return not (strict and (ours or theirs))


_OK, _LACKING, _MISSING, _UNUSABLE = "ok", "accepted but lacking permissions", "MISSING", "NOT USABLE"


def _report_namespace(found: Any, needed: Any, *, account: str) -> str:
    """Print one namespace's verdict and return it (``_OK``, ``_LACKING``, ``_MISSING`` or ``_UNUSABLE``)."""
    from airpool.manifests import rbac

    if not found.exists:
        typer.secho(f"namespace {found.namespace}: MISSING (it does not exist in the cluster)", fg=typer.colors.RED)
        return _MISSING
    # Only roles that grant something commander needs are worth naming (every account also holds
    # system:basic-user and the like through system:authenticated).
    useful = [grant.role for grant in found.roles if len(rbac.missing(needed, grant.rules)) < len(needed)]
    if not useful:
        typer.secho(
            f"namespace {found.namespace}: NOT USABLE (no Role or ClusterRole bound to service account {account} "
            "grants any of commander's permissions)",
            fg=typer.colors.RED,
        )
        return _UNUSABLE
    lacking = rbac.missing(needed, found.rules)
    roles = ", ".join(useful)
    if not lacking:
        typer.secho(f"namespace {found.namespace}: ok ({roles})", fg=typer.colors.GREEN)
        return _OK
    typer.secho(
        f"namespace {found.namespace}: accepted, but {roles} grants {len(needed) - len(lacking)} of commander's "
        f"{len(needed)} permissions; commander's health check keeps it out of the offer until these are granted:",
        fg=typer.colors.YELLOW,
    )
    for check in lacking:
        typer.echo(f"  - {check}")
    return _LACKING


@app.command()
def render(values: list[Path] = _values_option()) -> None:
    """Print every cluster object the platform needs for this configuration, as multi-document YAML."""
    from airpool.manifests import pool, yaml_text

    cfg = _load(values)
    _notes(cfg)
    typer.echo(yaml_text.dump_all(pool.render(cfg)), nl=False)


@app.command("apply")
def apply_cmd(
    values: list[Path] = _values_option(),
    kubeconfig: Path | None = _kubeconfig_option("Admin kubeconfig (default: $KUBECONFIG or ~/.kube/config)."),
) -> None:
    """Server-side apply the rendered objects as an admin; idempotent, never deletes a namespace."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from airpool.kube import apply, client
    from airpool.manifests import pool

    cfg = _load(values)
    _notes(cfg)
    objects = pool.render(cfg)
    console = Console(stderr=True)
    try:
        with apply.cluster_errors():
            kube = client.connect(kubeconfig, field_manager=client.ADMIN_FIELD_MANAGER)
            members = set(cfg.pool.names) if cfg.pool is not None else set()
            left = [
                name
                for name in apply.labelled_namespaces(kube, selector={pool.POOL_LABEL: cfg.platform_release})
                if name not in members
            ]
            with Progress(
                TextColumn("applying"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.description}"),
                console=console,
                transient=True,
            ) as progress:
                task = progress.add_task("", total=len(objects))

                def step(item: apply.Applied) -> None:
                    progress.update(task, advance=1, description=str(item))

                summary = apply.apply(kube, objects, field_manager=client.ADMIN_FIELD_MANAGER, on_applied=step)
            # Cluster-wide rights airpool granted earlier that this configuration no longer grants: removed.
            stale = apply.stale_cluster_rbac(kube, objects, labels=pool.labels(cfg))
            apply.delete_cluster_rbac(kube, stale)
    except apply.ApplyError as exc:
        raise _error(exc.message) from None
    for kind, name in stale:
        typer.echo(f"{kind} {name} deleted: this configuration no longer grants it (airpool created it earlier)")
    for item in summary.results:
        if item.outcome is not apply.Outcome.UNCHANGED:
            typer.echo(str(item))
    for name in left:
        typer.secho(
            f"namespace {name} left the pool and was NOT deleted (a Deployment may still live there); delete it "
            "yourself once it is empty",
            fg=typer.colors.YELLOW,
        )
    typer.echo(apply_summary(summary.results))


def apply_summary(results: list[Any], *, named: int = 3) -> str:
    """``12 objects: 10 created, 1 changed (namespace/astronomer), 1 unchanged (serviceaccount/...)``: counts, and
    for the changed and unchanged ones the first few names, so "1 changed" never leaves the reader guessing."""
    from airpool.kube import apply

    parts = []
    for outcome in apply.Outcome:
        items = [item for item in results if item.outcome is outcome]
        text = f"{len(items)} {outcome.value}"
        if items and outcome is not apply.Outcome.CREATED:
            refs = [item.ref for item in items[:named]]
            more = len(items) - len(refs)
            text += f" ({', '.join(refs)}{f' and {more} more' if more else ''})"
        parts.append(text)
    return f"{len(results)} objects: " + ", ".join(parts)
