"""``airpool deployment delete`` without Typer at import: the Typer command (``deployment_cmd``) and the entry
point's shortcut for ``deployment delete NAME --yes ...`` (``entry``: a script's delete, measured against
``helm uninstall --wait``, skips building the Typer app) both run ``delete``. Also the look-ups other Deployment
commands share: ``appConfig``, the Deployments of a workspace, a Deployment by name, the free namespaces.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from airpool.cli import hints, output, polling, queries, session
from airpool.domain import deployments as deployment_rules
from airpool.domain.errors import AirpoolError, InvalidInput, NotFound


def app_config(current: session.Session) -> dict[str, Any]:
    """The server's ``appConfig`` once: ``flags`` (its ``featureFlags`` overlaid with the top-level fields of the
    same name), ``mode`` (how it picks namespaces) and its defaults (``defaultExecutor``)."""
    return _read_app_config(current.api.execute(queries.APP_CONFIG)["appConfig"])


def _read_app_config(answer: dict[str, Any]) -> dict[str, Any]:
    config = dict(answer)
    flags = {**(config.pop("featureFlags", None) or {}), **{k: v for k, v in config.items() if v is True}}
    return {**config, "flags": flags, "mode": mode_of(flags)}


def mode_of(flags: dict[str, Any]) -> str:
    """``free-form``, ``pool`` or ``derived``: how the server picks namespaces."""
    if flags.get("namespaceFreeFormEntry"):
        return "free-form"
    if flags.get("manualNamespaceNames"):
        return "pool"
    return "derived"


def available(current: session.Session) -> list[str]:
    return [ns["name"] for ns in current.api.execute(queries.AVAILABLE_NAMESPACES)["availableNamespaces"]]


def deployments_of(current: session.Session, *, workspace_id: str, release_name: str | None = None) -> list[Any]:
    variables = {"workspaceUuid": workspace_id, "releaseName": release_name}
    return list(current.api.execute(queries.WORKSPACE_DEPLOYMENTS, variables)["workspaceDeployments"])


def resolve(
    current: session.Session,
    ref: str,
    *,
    workspace: str | None,
    deleted_too: bool = False,
    live: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The Deployment that ``ref`` names by id, release name or (unique) label; with ``deleted_too``, also a
    deleted one whose record remains (being removed, or soft-deleted and kept), when no live one matches.
    ``live``: the workspace's Deployments, when the caller already asked for them."""
    workspace_id = current.workspace_id(workspace)

    def deleted() -> list[dict[str, Any]]:
        return list(
            current.api.execute(queries.DELETED_DEPLOYMENTS, {"workspaceUuid": workspace_id})["deletedDeployments"]
        )

    # The deleted ones are asked for only when no live one matches (one round trip less for the usual case).
    sources: list[Callable[[], list[dict[str, Any]]]] = [
        (lambda: live) if live is not None else (lambda: deployments_of(current, workspace_id=workspace_id))
    ]
    if deleted_too:
        sources.append(deleted)
    for source in sources:
        rows = source()
        for key in ("id", "releaseName", "label"):
            found = [row for row in rows if row[key] == ref]
            if len(found) == 1:
                return dict(found[0])
            if len(found) > 1:
                raise InvalidInput(f"{len(found)} Deployments are labelled {ref!r}; give the release name or id")
    raise NotFound(f"no Deployment {ref!r} in this workspace; see `airpool deployment list`")


def delete(
    deployment: str,
    *,
    hard: bool | None,
    yes: bool,
    wait: bool,
    timeout: float,
    workspace: str | None,
    fmt: output.Format,
) -> None:
    """Delete a Deployment (hard or soft) and say when its namespace returns to the pool; ``yes`` skips the
    confirmation (the caller refuses a missing one without a terminal)."""
    current = session.open_session()
    # The workspace's Deployments and the server's settings in one round trip.
    first = current.api.execute(queries.DELETE_LOOKUP, {"workspaceUuid": current.workspace_id(workspace)})
    found = resolve(current, deployment, workspace=workspace, deleted_too=True, live=first["workspaceDeployments"])
    if found.get("deletedAt"):  # already deleted: the server says where its removal stands and what to do
        current.api.execute(queries.DELETE_DEPLOYMENT, {"deploymentUuid": found["id"], "deploymentHardDelete": None})
    server = _read_app_config(first["appConfig"])
    allowed = bool(server["flags"].get("hardDeleteDeployment"))
    if hard and not allowed:
        raise AirpoolError(
            "this server does not allow hard deletes (values.yaml: astronomer.houston.config.deployments."
            "hardDeleteDeployment is false); delete without --hard: the namespace returns after the retention period"
        )
    is_hard = allowed if hard is None else hard
    what = f"Deployment {found['label']!r} ({found['releaseName']}) in namespace {found['namespace']}"
    if not yes:
        output.echo(delete_plan(is_hard=is_hard, allowed=allowed, chosen=hard is not None), err=True)
        import typer  # only to ask: ``--yes`` never imports it

        if not typer.confirm(f"{'Hard' if is_hard else 'Soft'}-delete {what}?", default=False, err=True):
            output.echo("Nothing deleted.")
            return
    variables = {"deploymentUuid": found["id"], "deploymentHardDelete": is_hard}
    deleted = current.api.execute(queries.DELETE_DEPLOYMENT, variables)["deleteDeployment"]
    quiet = fmt is output.Format.JSON
    if quiet:
        output.print_json(deleted)
    else:
        output.echo(f"Deleted {what} ({'hard' if not deleted.get('releasesAt') else 'soft'} delete).")
        output.echo(hints.rewrite(return_note(deleted)))
    if wait and not deleted.get("releasesAt"):
        wait_freed(current, deleted=deleted, timeout=timeout, quiet=quiet, mode=server["mode"])


def delete_plan(*, is_hard: bool, allowed: bool, chosen: bool) -> str:
    """What the confirmation is about to do, and how to ask for the other kind of delete."""
    if is_hard:
        other = "" if chosen else " (--soft keeps its data for the retention period instead)"
        return (
            "Hard delete: commander removes the Deployment's objects and data for good; its namespace returns to the "
            f"pool as soon as that is done{other}."
        )
    other = " (--hard removes everything now instead)" if allowed and not chosen else ""
    return (
        "Soft delete: the Deployment stops, its data is kept for the retention period, then its namespace returns "
        f"to the pool{other}."
    )


def wait_freed(current: session.Session, *, deleted: dict[str, Any], timeout: float, quiet: bool, mode: str) -> None:
    """Poll the deleted Deployment until commander has removed it (its record is gone), showing commander's
    latest message (a retry and its reason) meanwhile; then say where its namespace stands. A namespace that
    left the pool meanwhile is not waited for."""
    namespace = deleted["namespace"]
    if mode != "pool":
        output.echo(f"No namespace pool here: commander deletes namespace {namespace} with the Deployment.", err=True)
        return
    deadline = time.monotonic() + timeout
    name = deleted["releaseName"]
    # A removal takes about a second on an idle cluster: look every 0.1 s for the first seconds (a look is one
    # small query), so the command ends within 0.1 s of commander's, then back off to once a second.
    pause = polling.pauses(first=0.1, quick_for=5.0, most=1.0)
    with output.progress(quiet=quiet) as show:
        show(f"namespace {namespace}: commander is removing the objects of {name}")
        while True:
            left = current.api.execute(queries.DELETED_DEPLOYMENT, {"deploymentUuid": deleted["id"]})[
                "deletedDeployment"
            ]
            if left is None or left["status"] != deployment_rules.DeploymentStatus.DELETING.value:
                break
            if left["statusMessage"] and left["statusMessage"] != "queued for uninstall":
                show(f"namespace {namespace}: {left['statusMessage']}")
            if time.monotonic() >= deadline:
                raise AirpoolError(
                    f"Deployment {name} is still being removed from namespace {namespace} after {timeout:g} s: "
                    f"{left['statusMessage']}. Commander keeps retrying; `airpool deployment retry {deleted['id']}` "
                    f"retries now; an admin sees the namespace's state with `airpool pool status`"
                )
            time.sleep(next(pause))
    if namespace in available(current):
        output.echo(f"Namespace {namespace} is back in the pool.", err=quiet)
    else:
        output.echo(
            f"The Deployment's objects are removed; namespace {namespace} is not offered right now (it left the "
            "pool, or waits for commander's check); an admin sees why with `airpool pool status`.",
            err=quiet,
        )


def return_note(deleted: dict[str, Any]) -> str:
    namespace = deleted["namespace"]
    if deleted.get("releasesAt"):
        return (
            f"Soft delete: namespace {namespace} and the Deployment's data are kept until {deleted['releasesAt']}, "
            f"then the namespace returns to the pool (an admin can release it earlier: "
            f"`airpool pool release {namespace}`)."
        )
    return (
        f"Namespace {namespace} is freed as soon as commander has removed the Deployment's objects "
        "(a pool namespace then returns to the pool; see `airpool pool status`)."
    )
