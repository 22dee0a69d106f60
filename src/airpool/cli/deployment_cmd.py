"""``airpool deployment``: create (choosing a pool namespace), list, inspect, wait for and delete Deployments.

The namespace rules live on the server; the CLI only asks which mode it runs in (``appConfig``) to decide what to
ask the user: a menu of the available pool namespaces, a free-form name, or nothing. Everything it shows about a
failure is the server's own message.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from airpool.cli import deleting, entry, exits, hints, output, polling, prompt, queries, session
from airpool.domain import dags, names
from airpool.domain import deployments as deployment_rules
from airpool.domain.errors import AirpoolError, InvalidInput, NotFound

app = typer.Typer(
    help="Create, list, inspect, wait for and delete Airflow Deployments.",
    no_args_is_help=True,
    epilog=output.examples(
        "airpool deployment create --label etl    # pick a pool namespace with the arrow keys",
        "airpool deployment create -l etl -e kubernetes --namespace pool-a --wait",
        "airpool deployment list -o json | jq '.[].namespace'",
        "airpool deployment delete etl --soft --yes   # keep its data for the retention period",
    ),
)

_SHORT_EXECUTORS = {e.name.lower(): e.value for e in deployment_rules.Executor}
#: Phases after which ``wait`` stops: healthy (exit 0), failed or deleted (exit 1).
_FINAL_PHASES = frozenset(
    status.value
    for status in (
        deployment_rules.DeploymentStatus.HEALTHY,
        deployment_rules.DeploymentStatus.FAILED,
        deployment_rules.DeploymentStatus.DELETED,
    )
)


def _executor(value: str | None) -> str | None:
    if value is None:
        return None  # the server's default (appConfig.defaultExecutor)
    try:
        return deployment_rules.parse_executor(_SHORT_EXECUTORS.get(value.lower(), value)).value
    except InvalidInput as exc:
        raise typer.BadParameter(f"{exc.message} (or local, celery, kubernetes)") from None


def _nfs_location(value: str | None) -> str | None:
    """Checked before anything is sent, with the same rule as the server's."""
    if value is None:
        return None
    try:
        dags.split_nfs_location(value.strip())
    except InvalidInput as exc:
        raise typer.BadParameter(exc.message) from None
    return value.strip()


def _read_file(path: Path | None, option: str) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc}", param_hint=option) from None


def _known_hosts_for(text: str, repository_url: str, path: Path) -> str:
    """The lines of a known_hosts file that name the repository's host (as the astro CLI sends them)."""
    host = repository_url
    host = host.split("://", 1)[1].split("/", 1)[0] if "://" in host else host.split(":", 1)[0]
    host = host.rsplit("@", 1)[-1]
    host = host[1:].split("]", 1)[0] if host.startswith("[") else host.split(":", 1)[0]
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#") and host in line]
    if not lines:
        raise typer.BadParameter(
            f"{path} has no line for host {host!r} (hashed entries cannot be matched; add one with "
            f"`ssh-keyscan {host} >> FILE`)",
            param_hint="--known-hosts",
        )
    return "\n".join(lines) + "\n"


def git_sync_input(
    *,
    repository_url: str | None,
    branch: str | None,
    revision: str | None,
    dag_directory: str | None,
    sync_interval: int | None,
    ssh_key: Path | None,
    known_hosts: Path | None,
) -> dict[str, Any] | None:
    """Houston's ``dagDeployment`` input for git-sync (the key and known hosts read from their files, as the astro
    CLI does), or None when no git-sync option was given. The server checks every value."""
    given = [repository_url, branch, revision, dag_directory, sync_interval, ssh_key, known_hosts]
    if all(v is None for v in given):
        return None
    dag: dict[str, Any] = {"type": "git_sync"}
    for key, value in (
        ("repositoryUrl", repository_url),
        ("branchName", branch),
        ("rev", revision),
        ("dagDirectoryLocation", dag_directory),
        ("syncInterval", sync_interval),
        ("sshKey", _read_file(ssh_key, "--ssh-key")),
    ):
        if value is not None:
            dag[key] = value
    hosts = _read_file(known_hosts, "--known-hosts")
    if hosts is not None and known_hosts is not None:
        dag["knownHosts"] = _known_hosts_for(hosts, repository_url, known_hosts) if repository_url else hosts
    return dag


GIT_REPOSITORY_OPTION = typer.Option(
    None,
    "--git-repository-url",
    help="git-sync DAG deploys: the repository (ssh://host/path, user@host:path or https://...); only where the "
    "server enables git-sync.",
)
GIT_BRANCH_OPTION = typer.Option(None, "--git-branch-name", help="git-sync: the branch (default: the repository's).")
GIT_REVISION_OPTION = typer.Option(None, "--git-revision", help="git-sync: a tag or commit instead of a branch.")
DAG_DIRECTORY_OPTION = typer.Option(
    None, "--dag-directory-path", help="git-sync: the DAG folder inside the repository (default: its top)."
)
SYNC_INTERVAL_OPTION = typer.Option(None, "--sync-interval", help="git-sync: seconds between fetches (default 60).")
SSH_KEY_OPTION = typer.Option(
    None, "--ssh-key", help="git-sync: file with the SSH private key the git server accepts (sent once, never shown)."
)
KNOWN_HOSTS_OPTION = typer.Option(
    None, "--known-hosts", help="git-sync: known_hosts file; its lines for the repository's host are sent."
)


# Shared with ``deleting`` (which ``airpool deployment delete ... --yes`` reaches without building the Typer app).
_app_config = deleting.app_config
_mode = deleting.mode_of
_available = deleting.available
_deployments = deleting.deployments_of
_resolve = deleting.resolve

_WORKSPACE_OPTION = typer.Option(None, "--workspace", "-w", help="Workspace id (default: the context's).")
_DEPLOYMENT_ARGUMENT = typer.Argument(..., metavar="DEPLOYMENT", help="Release name, label or id of the Deployment.")


@app.command(
    "create",
    epilog=output.examples(
        "airpool deployment create -l etl   # then pick a pool namespace with the arrow keys",
        "airpool deployment create -l etl -e kubernetes -a 2.10.5 --namespace pool-a --wait",
        "airpool deployment create -l etl --nfs-location nfs.example.com:/exports/dags   # DAGs from NFS",
        "airpool deployment create -l etl --git-repository-url git@git.example.com:team/dags.git "
        "--dag-directory-path dags --ssh-key ~/.ssh/dags_deploy --known-hosts ~/.ssh/known_hosts   # git-sync",
    ),
)
@exits.handled
def create(
    label: str | None = typer.Option(None, "--label", "-l", help="A name for people (prompted when omitted)."),
    executor: str | None = typer.Option(
        None,
        "--executor",
        "-e",
        callback=_executor,
        help="local, celery or kubernetes (Houston names too); default: the server's.",
    ),
    airflow_version: str | None = typer.Option(
        None,
        "--airflow-version",
        "-a",
        help="One of the Airflow versions the server offers (values.yaml airpool.airflow.versions); default: the "
        "server's default version.",
    ),
    namespace: str | None = typer.Option(
        None, "--namespace", "-n", help="Pool namespace to use, without a prompt (for scripts)."
    ),
    release_name: str | None = typer.Option(None, "--release-name", help="DNS-safe release name (default: generated)."),
    description: str | None = typer.Option(None, "--description", help="Free text shown with the Deployment."),
    nfs_location: str | None = typer.Option(
        None,
        "--nfs-location",
        callback=_nfs_location,
        help="Read DAGs from this NFS export (server:/path), mounted read-only; only where the server enables NFS.",
    ),
    git_repository_url: str | None = GIT_REPOSITORY_OPTION,
    git_branch_name: str | None = GIT_BRANCH_OPTION,
    git_revision: str | None = GIT_REVISION_OPTION,
    dag_directory_path: str | None = DAG_DIRECTORY_OPTION,
    sync_interval: int | None = SYNC_INTERVAL_OPTION,
    ssh_key: Path | None = SSH_KEY_OPTION,
    known_hosts: Path | None = KNOWN_HOSTS_OPTION,
    workspace: str | None = _WORKSPACE_OPTION,
    wait_: bool = typer.Option(False, "--wait", help="Then wait until the Deployment is healthy or failed."),
    fmt: output.Format = output.output_option(),
) -> None:
    """Create a Deployment; with a namespace pool, choose one of the available namespaces."""
    git_sync = git_sync_input(
        repository_url=git_repository_url,
        branch=git_branch_name,
        revision=git_revision,
        dag_directory=dag_directory_path,
        sync_interval=sync_interval,
        ssh_key=ssh_key,
        known_hosts=known_hosts,
    )
    if git_sync is not None and nfs_location:
        raise typer.BadParameter("choose NFS or git-sync, not both", param_hint="--nfs-location")
    current = session.open_session()
    workspace_id = current.workspace_id(workspace)
    server = _app_config(current)
    if nfs_location and not server["flags"].get("nfsMountDagDeployment"):
        raise AirpoolError(
            "this server does not allow NFS DAG deploys (values.yaml: astronomer.houston.config.deployments."
            "nfsMountDagDeployment is false); create the Deployment without --nfs-location (image-based DAG deploys)"
        )
    if git_sync is not None and not server["flags"].get("gitSyncDagDeployment"):
        raise AirpoolError(
            "this server does not allow git-sync DAG deploys (values.yaml: astronomer.houston.config.deployments."
            "gitSyncDagDeployment is false); create the Deployment without the git options (image-based DAG deploys)"
        )
    if airflow_version is not None:
        # Checked before any prompt; the server refuses it the same way.
        offered = current.api.execute(queries.AIRFLOW_VERSIONS)["deploymentConfig"]["airflowVersions"]
        if airflow_version.strip() not in offered:
            raise typer.BadParameter(
                f"{airflow_version!r} is not offered by this server; allowed: {', '.join(offered)} "
                "(values.yaml airpool.airflow.versions)",
                param_hint="--airflow-version",
            )
    if label is None:
        if not prompt.interactive():
            raise typer.BadParameter("a label is required", param_hint="--label")
        label = typer.prompt("Deployment label")
    if namespace is None:
        namespace = _ask_namespace(current, mode=server["mode"])
    variables = {
        "label": label,
        "workspaceUuid": workspace_id,
        "executor": executor or server["defaultExecutor"],
        "airflowVersion": airflow_version,
        "releaseName": release_name,
        "namespace": namespace,
        "description": description,
        # Houston's name for an NFS DAG deploy is "volume", as the astro CLI sends it.
        "dagDeployment": {"type": "volume", "nfsLocation": nfs_location} if nfs_location else git_sync,
    }
    created = current.api.execute(queries.CREATE_DEPLOYMENT, variables)["createDeployment"]
    if fmt is output.Format.JSON:
        output.print_json(created)
    else:
        typer.echo(
            f"Created Deployment {created['label']!r}: release name {created['releaseName']}, namespace "
            f"{created['namespace']}, {created['executor']}, Airflow {created['airflowVersion']}, "
            f"status {created['status']}."
        )
        if nfs_location:
            typer.echo(f"  DAGs: read-only from NFS {nfs_location}")
        elif git_sync:
            typer.echo(f"  DAGs: {_dag_text(created.get('dagDeployment'))}")
        for url in created.get("urls") or []:
            typer.echo(f"  {url['type']}: {url['url']}")
        if not wait_:
            typer.echo(hints.rewrite(f"Follow it with `airpool deployment wait {created['releaseName']}`."))
    if wait_:
        _wait(current, deployment=created, timeout=600.0, interval=2.0, quiet=fmt is output.Format.JSON)


def _dag_text(dag: dict[str, Any] | None) -> str:
    if dag and dag.get("nfsLocation"):
        return f"NFS (read-only) {dag['nfsLocation']}"
    if dag and dag.get("type") == "git_sync":
        ref = dag.get("rev") or dag.get("branchName") or "its default branch"
        where = f", folder {dag['dagDirectoryLocation']}" if dag.get("dagDirectoryLocation") else ""
        return f"git-sync from {dag['repositoryUrl']} ({ref}{where}), every {dag.get('syncInterval')} s"
    return "image"


def _ask_namespace(current: session.Session, *, mode: str) -> str | None:
    """What the server's mode asks for: a pool namespace, a typed name, or nothing (the server derives it)."""
    if mode == "free-form":
        if not prompt.interactive():
            raise typer.BadParameter("this server wants a namespace name", param_hint="--namespace")
        return str(typer.prompt("Kubernetes namespace", value_proc=_namespace_name))
    if mode == "derived":
        return None
    available = _available(current)
    if not available:
        return None  # the server answers with the empty-pool error and its counts
    if not prompt.interactive():
        raise typer.BadParameter(
            f"choose one of the available namespaces: {', '.join(available)}", param_hint="--namespace"
        )
    return available[prompt.choose(available, title="Choose a Kubernetes namespace")]


def _namespace_name(value: str) -> str:
    value = value.strip()
    problem = names.dns1123_label_problem(value)
    if problem:
        raise typer.BadParameter(f"namespace {value!r} {problem}")
    return value


@app.command(
    "list", epilog=output.examples("airpool deployment list", "airpool deployment list -o json | jq -r '.[].namespace'")
)
@exits.handled
def list_(workspace: str | None = _WORKSPACE_OPTION, fmt: output.Format = output.output_option()) -> None:
    """List the Deployments of the workspace."""
    entry.list_deployments(workspace, fmt)


@app.command("status", epilog=output.examples("airpool deployment status etl", "airpool deployment status etl -o json"))
@exits.handled
def status(
    deployment: str = _DEPLOYMENT_ARGUMENT,
    workspace: str | None = _WORKSPACE_OPTION,
    fmt: output.Format = output.output_option(),
) -> None:
    """Show a Deployment's phase and commander's latest message about it (also a deleted one still being
    removed or kept after a soft delete)."""
    current = session.open_session()
    found = _resolve(current, deployment, workspace=workspace, deleted_too=True)
    if fmt is output.Format.JSON:
        output.print_json(found)
        return
    pairs: list[tuple[str, Any]] = [
        ("Label", found["label"]),
        ("Release name", found["releaseName"]),
        ("ID", found["id"]),
        ("Workspace", (found.get("workspace") or {}).get("label")),
        ("Namespace", found["namespace"]),
        ("Executor", found["executor"]),
        ("Airflow", found["airflowVersion"] + (f" (image {found['image']})" if found.get("image") else "")),
        ("DAG deploy", _dag_text(found.get("dagDeployment"))),
        ("Status", found["status"]),
        ("Message", found["statusMessage"]),
        ("Created", found["createdAt"]),
        ("Updated", found["updatedAt"]),
    ]
    if found.get("rolloutPhase"):
        pairs.append(("Upgrade", f"to Airflow {found['desiredAirflowVersion']}: {found['rolloutPhase']}"))
    if found.get("rolloutError"):
        pairs.append(("Last upgrade failed", found["rolloutError"]))
    if found.get("deletedAt"):
        pairs.append(("Deleted", found["deletedAt"]))
    if found.get("releasesAt"):
        pairs.append(("Namespace returns", found["releasesAt"]))
    pairs += [(f"URL ({url['type']})", url["url"]) for url in found.get("urls") or []]
    output.details(pairs)


@app.command(
    "delete",
    epilog=output.examples(
        "airpool deployment delete etl   # says whether it will be a hard or a soft delete, then asks",
        "airpool deployment delete etl --hard --yes --wait   # until the namespace is back in the pool",
        "airpool deployment delete etl --soft   # keep its data; the namespace returns after the retention period",
    ),
)
@exits.handled
def delete(
    deployment: str = _DEPLOYMENT_ARGUMENT,
    hard: bool | None = typer.Option(
        None,
        "--hard/--soft",
        show_default=False,
        help="Hard: remove everything now, the namespace returns to the pool at once (where the server allows it). "
        "Soft: keep the data, the namespace returns after the retention period. Default: the server's.",
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    wait_: bool = typer.Option(
        False, "--wait", help="After a hard delete, wait until commander has cleaned the namespace and it is free."
    ),
    timeout: float = typer.Option(600.0, "--timeout", min=1, help="With --wait: give up after this many seconds."),
    workspace: str | None = _WORKSPACE_OPTION,
    fmt: output.Format = output.output_option(),
) -> None:
    """Delete a Deployment (hard or soft) and say when its namespace returns to the pool."""
    if not yes and not prompt.interactive():
        raise typer.BadParameter("no terminal to confirm on; pass --yes to delete", param_hint="--yes")
    deleting.delete(deployment, hard=hard, yes=yes, wait=wait_, timeout=timeout, workspace=workspace, fmt=fmt)


@app.command(
    "retry",
    epilog=output.examples("airpool deployment retry etl", "airpool deployment retry 0b6c9f1e-...   # a deleted one"),
)
@exits.handled
def retry(deployment: str = _DEPLOYMENT_ARGUMENT, workspace: str | None = _WORKSPACE_OPTION) -> None:
    """Run the work a Deployment still needs again, now: its failed install or upgrade, or the removal of a
    deleted one (commander also retries by itself; this does not wait for it)."""
    current = session.open_session()
    found = _resolve(current, deployment, workspace=workspace, deleted_too=True)
    job = current.api.execute(queries.RETRY_DEPLOYMENT, {"deploymentUuid": found["id"]})["retryDeployment"]
    typer.echo(
        hints.rewrite(
            f"Queued the {job['kind']} of Deployment {found['releaseName']} again (job {job['id']}); commander runs "
            f"it now. Follow it with `airpool deployment status {found['releaseName']}`."
        )
    )


_JOB_COLUMNS = [
    output.field("job", "id", copy=True),
    output.field("kind", "kind"),
    output.field("why", "reason", drop=2),
    output.field("state", "state", styled=True, copy=True),
    output.field("attempts", "attempts"),
    output.field("not before", "runAfter", copy=True, drop=1),
    output.field("finished", "finishedAt", copy=True),
    output.field("last error", "lastError"),
]


@app.command("jobs", epilog=output.examples("airpool deployment jobs etl", "airpool deployment jobs etl -o json"))
@exits.handled
def jobs(
    deployment: str = _DEPLOYMENT_ARGUMENT,
    workspace: str | None = _WORKSPACE_OPTION,
    fmt: output.Format = output.output_option(),
) -> None:
    """Commander's jobs for a Deployment, newest first: state, attempts, when the next try is, the last error."""
    current = session.open_session()
    found = _resolve(current, deployment, workspace=workspace, deleted_too=True)
    rows = current.api.execute(queries.DEPLOYMENT_JOBS, {"deploymentUuid": found["id"]})["deploymentJobs"]
    output.show(rows, _JOB_COLUMNS, fmt=fmt, empty="No commander jobs for this Deployment.")


@app.command("wait", epilog=output.examples("airpool deployment wait etl", "airpool deployment wait etl --timeout 300"))
@exits.handled
def wait(
    deployment: str = _DEPLOYMENT_ARGUMENT,
    timeout: float = typer.Option(600.0, "--timeout", min=1, help="Give up after this many seconds (exit 1)."),
    interval: float = typer.Option(
        2.0, "--interval", min=0.2, help="Seconds between two looks, after the first five seconds' looks every 0.25 s."
    ),
    workspace: str | None = _WORKSPACE_OPTION,
) -> None:
    """Wait until a Deployment is healthy (exit 0) or failed (exit 1), showing its phase meanwhile."""
    current = session.open_session()
    found = _resolve(current, deployment, workspace=workspace)
    _wait(current, deployment=found, timeout=timeout, interval=interval, quiet=False)


def _wait(
    current: session.Session, *, deployment: dict[str, Any], timeout: float, interval: float, quiet: bool
) -> None:
    """Poll the Deployment; a spinner on a terminal, one line per phase change otherwise. Looks every 0.25 s (or
    ``interval``, if shorter) for the first five seconds, then backs off to one look every ``interval`` seconds."""
    name = deployment["releaseName"]
    workspace_id = deployment["workspace"]["id"]
    deadline = time.monotonic() + timeout
    pause = polling.pauses(first=0.25, quick_for=5.0, most=interval)
    with output.progress(quiet=quiet) as show:
        while True:
            phase, message = deployment["status"], deployment["statusMessage"]
            show(f"{deployment['label']} ({name}): {phase}" + (f" - {message}" if message else ""))
            if phase in _FINAL_PHASES or time.monotonic() >= deadline:
                break
            time.sleep(next(pause))
            rows = _deployments(current, workspace_id=workspace_id, release_name=name)
            if not rows:
                raise NotFound(f"Deployment {name} no longer exists")
            deployment = rows[0]
    phase = deployment["status"]
    if phase == deployment_rules.DeploymentStatus.HEALTHY.value:
        typer.echo(f"Deployment {deployment['label']!r} ({name}) is healthy.", err=quiet)
        return
    if phase in _FINAL_PHASES:
        raise AirpoolError(f"Deployment {name} is {phase}: {deployment['statusMessage'] or 'no message'}")
    raise AirpoolError(
        f"Deployment {name} is still {phase} after {timeout:g} s; see `airpool deployment status {name}`"
    )
