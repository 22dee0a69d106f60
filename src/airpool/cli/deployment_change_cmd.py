"""``airpool deployment update|upgrade|deploy-image|variables``: change a live Deployment through the same Houston
operations the astro CLI sends (``updateDeployment``, ``updateDeploymentAirflow``, ``updateDeploymentImage``,
``deploymentVariables`` / ``updateDeploymentVariables``).

Every rule (sizes an admin allows, versions offered, image references) is the server's; the CLI only turns options
into the request and shows the server's answer. ``--wait`` follows commander until the change is healthy, or until
a rollout failed (its reason, exit 1), with the changing status on stderr.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import typer

from airpool.cli import client, deployment_cmd, hints, output, polling, prompt, queries, session
from airpool.domain.errors import AirpoolError, InvalidInput

_FIELDS = """
  id label description releaseName executor airflowVersion desiredAirflowVersion image desiredImage rolloutPhase
  rolloutError status statusMessage config workspace { id }
"""
GET = f"query ChangeTarget($id: String!) {{ deployment(where: {{id: $id}}) {{ {_FIELDS} }} }}"
UPDATE = f"""
mutation UpdateDeployment(
  $deploymentUuid: Uuid!, $payload: JSON, $executor: ExecutorType, $config: JSON, $dagDeployment: DagDeployment
) {{
  updateDeployment(
    deploymentUuid: $deploymentUuid, payload: $payload, executor: $executor, config: $config,
    dagDeployment: $dagDeployment
  ) {{
    {_FIELDS}
  }}
}}"""
UPGRADE = f"""
mutation UpdateDeploymentAirflow($deploymentUuid: Uuid!, $desiredAirflowVersion: String!) {{
  updateDeploymentAirflow(deploymentUuid: $deploymentUuid, desiredAirflowVersion: $desiredAirflowVersion) {{
    {_FIELDS}
  }}
}}"""
DEPLOY_IMAGE = """
mutation UpdateDeploymentImage($releaseName: String!, $image: String!, $airflowVersion: String) {
  updateDeploymentImage(releaseName: $releaseName, image: $image, airflowVersion: $airflowVersion) { id }
}"""
VERSIONS = queries.AIRFLOW_VERSIONS
VARIABLES = """
query DeploymentVariables($deploymentUuid: Uuid!) {
  deploymentVariables(deploymentUuid: $deploymentUuid) { key value isSecret }
}"""
UPDATE_VARIABLES = """
mutation UpdateDeploymentVariables($deploymentUuid: Uuid!, $environmentVariables: [InputEnvironmentVariable!]!) {
  updateDeploymentVariables(deploymentUuid: $deploymentUuid, environmentVariables: $environmentVariables) {
    key value isSecret
  }
}"""

COMPONENTS = ("scheduler", "webserver", "workers", "triggerer")
_WORKSPACE_OPTION = typer.Option(None, "--workspace", "-w", help="Workspace id (default: the context's).")
_DEPLOYMENT_ARGUMENT = typer.Argument(..., metavar="DEPLOYMENT", help="Release name, label or id of the Deployment.")
_WAIT_OPTION = typer.Option(False, "--wait", help="Then follow commander until the change is healthy (or failed).")
_TIMEOUT_OPTION = typer.Option(1800.0, "--timeout", min=1, help="With --wait: give up after this many seconds.")


def _find(current: session.Session, ref: str, workspace: str | None) -> dict[str, Any]:
    found = deployment_cmd._resolve(current, ref, workspace=workspace)
    got: dict[str, Any] = current.api.execute(GET, {"id": found["id"]})["deployment"]
    return got


def _pairs(values: list[str], option: str) -> dict[str, str]:
    """``component=value`` options, each component named once."""
    out: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not value.strip():
            raise typer.BadParameter(f"{item!r} is not COMPONENT=VALUE", param_hint=option)
        if name not in COMPONENTS:
            raise typer.BadParameter(
                f"component {name!r} is not known; allowed: {', '.join(COMPONENTS)}", param_hint=option
            )
        if name in out:
            raise typer.BadParameter(f"component {name!r} is given twice", param_hint=option)
        out[name] = value.strip()
    return out


def _config(replicas: list[str], cpu: list[str], memory: list[str], config_file: Path | None) -> dict[str, Any] | None:
    """Houston's ``config`` payload from the options (and a JSON/YAML file of it, which options override)."""
    config: dict[str, Any] = {}
    if config_file is not None:
        import yaml  # only here: every airpool run imports this module (tests/unit/test_cli_commands.py)

        try:
            loaded = yaml.safe_load(config_file.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise typer.BadParameter(f"cannot read {config_file}: {exc}", param_hint="--config-file") from None
        if not isinstance(loaded, dict):
            raise typer.BadParameter(
                f"{config_file} must hold a mapping like {{workers: {{replicas: 2}}}}", param_hint="--config-file"
            )
        config = loaded
    for name, value in _pairs(replicas, "--replicas").items():
        try:
            count = int(value)
        except ValueError:
            raise typer.BadParameter(
                f"{name}={value!r}: replicas must be a whole number", param_hint="--replicas"
            ) from None
        config.setdefault(name, {})["replicas"] = count
    for option, key, given in (("--cpu", "cpu", cpu), ("--memory", "memory", memory)):
        for name, value in _pairs(given, option).items():
            resources = config.setdefault(name, {}).setdefault("resources", {})
            resources.setdefault("limits", {})[key] = value
    return config or None


def _follow(
    current: session.Session,
    found: dict[str, Any],
    *,
    timeout: float,
    quiet: bool,
    done: Any,
    interval: float = 2.0,
) -> dict[str, Any]:
    """Show the status until ``done(deployment)``; a failed rollout (``rolloutError`` set meanwhile) ends it with
    its reason."""
    name = found["releaseName"]
    error_before = found.get("rolloutError")
    deadline = time.monotonic() + timeout
    pause = polling.pauses(first=0.25, quick_for=5.0, most=interval)  # as create --wait: quick first, then back off
    with output.progress(quiet=quiet) as show:
        while True:
            message = found["statusMessage"]
            phase = f" [{found['rolloutPhase']}]" if found.get("rolloutPhase") else ""
            show(
                f"{found['label']} ({name}): Airflow {found['airflowVersion']}{phase}, {found['status']}"
                + (f" - {message}" if message else "")
            )
            error = found.get("rolloutError")
            if error and error != error_before and not found.get("rolloutPhase"):
                raise AirpoolError(f"Deployment {name}: {error}")
            if done(found):
                return found
            if time.monotonic() >= deadline:
                raise AirpoolError(
                    f"Deployment {name} is still {found['status']} after {timeout:g} s; see "
                    f"`airpool deployment status {name}`"
                )
            time.sleep(next(pause))
            found = current.api.execute(GET, {"id": found["id"]})["deployment"]


def _healthy_on(version: str | None = None, image: str | None = None) -> Any:
    def check(dep: dict[str, Any]) -> bool:
        if dep.get("rolloutPhase"):
            return False
        if version is not None and dep["airflowVersion"] != version:
            return False
        if image is not None and dep.get("image") != image:
            return False
        return bool(dep["status"] == "healthy")

    return check


def _summary(dep: dict[str, Any]) -> str:
    image = f", image {dep['image']}" if dep.get("image") else ""
    pending = ""
    if dep.get("rolloutPhase") == "awaiting-image":
        pending = f"; upgrade to {dep['desiredAirflowVersion']} waits for an image deploy of that version"
    elif dep.get("rolloutPhase"):
        target = dep.get("desiredImage") or f"Airflow {dep['desiredAirflowVersion']}"
        pending = f"; {target} {dep['rolloutPhase']}"
    return (
        f"Deployment {dep['label']!r} ({dep['releaseName']}): {dep['executor']}, Airflow {dep['airflowVersion']}"
        f"{image}{pending}; status {dep['status']}"
    )


def update(
    deployment: str = _DEPLOYMENT_ARGUMENT,
    label: str | None = typer.Option(None, "--label", "-l", help="New label."),
    description: str | None = typer.Option(None, "--description", help="New description."),
    executor: str | None = typer.Option(
        None, "--executor", "-e", callback=deployment_cmd._executor, help="local, celery or kubernetes."
    ),
    replicas: list[str] = typer.Option(
        [], "--replicas", metavar="COMPONENT=N", help="Replicas of scheduler, webserver, workers or triggerer."
    ),
    cpu: list[str] = typer.Option([], "--cpu", metavar="COMPONENT=CPU", help="CPU limit of a component, e.g. 2."),
    memory: list[str] = typer.Option(
        [], "--memory", metavar="COMPONENT=MEM", help="Memory limit of a component, e.g. 4Gi."
    ),
    config_file: Path | None = typer.Option(
        None, "--config-file", help="Houston's config payload as JSON or YAML (options given override it)."
    ),
    git_repository_url: str | None = deployment_cmd.GIT_REPOSITORY_OPTION,
    git_branch_name: str | None = deployment_cmd.GIT_BRANCH_OPTION,
    git_revision: str | None = deployment_cmd.GIT_REVISION_OPTION,
    dag_directory_path: str | None = deployment_cmd.DAG_DIRECTORY_OPTION,
    sync_interval: int | None = deployment_cmd.SYNC_INTERVAL_OPTION,
    ssh_key: Path | None = deployment_cmd.SSH_KEY_OPTION,
    known_hosts: Path | None = deployment_cmd.KNOWN_HOSTS_OPTION,
    wait_: bool = _WAIT_OPTION,
    timeout: float = _TIMEOUT_OPTION,
    workspace: str | None = _WORKSPACE_OPTION,
    fmt: output.Format = output.output_option(),
) -> None:
    """Change a Deployment's label, description, executor, or its components' replicas and resources (within
    the sizes the server allows: deploymentConfig's defaults and limits)."""
    config = _config(replicas, cpu, memory, config_file)
    payload = {k: v for k, v in (("label", label), ("description", description)) if v is not None}
    # git-sync settings not given keep their values on the server (a stored SSH key too)
    git_sync = deployment_cmd.git_sync_input(
        repository_url=git_repository_url,
        branch=git_branch_name,
        revision=git_revision,
        dag_directory=dag_directory_path,
        sync_interval=sync_interval,
        ssh_key=ssh_key,
        known_hosts=known_hosts,
    )
    if not payload and executor is None and config is None and git_sync is None:
        raise typer.BadParameter(
            "nothing to change; give --label, --description, --executor, --replicas, --cpu, --memory, --config-file "
            "or a git-sync option (--git-repository-url, --git-branch-name, ...)"
        )
    current = session.open_session()
    found = _find(current, deployment, workspace)
    variables = {
        "deploymentUuid": found["id"],
        "payload": payload,
        "executor": executor,
        "config": config,
        "dagDeployment": git_sync,
    }
    updated: dict[str, Any] = current.api.execute(UPDATE, variables)["updateDeployment"]
    quiet = fmt is output.Format.JSON
    if quiet:
        output.print_json(updated)
    else:
        typer.echo(f"Updated. {_summary(updated)}.")
        if config is not None:
            typer.echo(_sizes_table(updated.get("config") or {}))
    if wait_:
        _follow(current, updated, timeout=timeout, quiet=quiet, done=_healthy_on())
        if not quiet:
            typer.echo(f"Deployment {updated['releaseName']} is healthy.")


def _sizes_table(sizes: dict[str, Any]) -> str:
    """The components' replicas and limits after an update, one aligned row each, indented under "Updated."."""

    def limit(row: dict[str, Any], name: str) -> str:
        return str(((row.get("resources") or {}).get("limits") or {}).get(name) or "-")

    rows = [
        {"component": name, "replicas": sizes[name].get("replicas", "-"), "cpu": limit(sizes[name], "cpu"),
         "memory": limit(sizes[name], "memory")}
        for name in (*COMPONENTS, *sorted(set(sizes) - set(COMPONENTS)))
        if isinstance(sizes.get(name), dict)
    ]  # fmt: skip
    columns = [
        output.field("component", "component"), output.field("replicas", "replicas"),
        output.field("cpu limit", "cpu"), output.field("memory limit", "memory"),
    ]  # fmt: skip
    return "\n".join("  " + line for line in output.plain_table(rows, columns).splitlines())


def upgrade(
    deployment: str = _DEPLOYMENT_ARGUMENT,
    airflow_version: str | None = typer.Option(
        None, "--airflow-version", "-a", help="Version to upgrade to (one the server offers; asked when omitted)."
    ),
    cancel: bool = typer.Option(False, "--cancel", help="Cancel a pending upgrade (before its migration started)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    wait_: bool = _WAIT_OPTION,
    timeout: float = _TIMEOUT_OPTION,
    workspace: str | None = _WORKSPACE_OPTION,
    fmt: output.Format = output.output_option(),
) -> None:
    """Upgrade a Deployment's Airflow: the new version's database migration runs first while the old version keeps
    running; the components roll once it succeeded. A failed upgrade leaves the old version running and says why."""
    current = session.open_session()
    found = _find(current, deployment, workspace)
    name = found["releaseName"]
    quiet = fmt is output.Format.JSON
    if cancel:
        if found["desiredAirflowVersion"] == found["airflowVersion"] and not found.get("rolloutPhase"):
            typer.echo(f"Nothing to cancel: {name} runs Airflow {found['airflowVersion']} with no upgrade pending.")
            return
        variables = {"deploymentUuid": found["id"], "desiredAirflowVersion": found["airflowVersion"]}
        done = current.api.execute(UPGRADE, variables)["updateDeploymentAirflow"]
        if quiet:
            output.print_json(done)
        else:
            typer.echo(f"Upgrade cancelled; {name} keeps running Airflow {done['airflowVersion']}.")
        return
    if airflow_version is None:
        offered = current.api.execute(VERSIONS)["deploymentConfig"]["airflowVersions"]
        newer = [v for v in offered if _newer(v, found["airflowVersion"])]
        if not newer:
            raise AirpoolError(
                f"{name} runs Airflow {found['airflowVersion']}; the server offers nothing newer ({', '.join(offered)})"
            )
        if not prompt.interactive():
            raise typer.BadParameter(
                f"give the version to upgrade to ({', '.join(newer)})", param_hint="--airflow-version"
            )
        airflow_version = newer[prompt.choose(newer, title=f"Upgrade {name} from Airflow {found['airflowVersion']} to")]
    elif airflow_version.strip() == found["airflowVersion"]:
        # The server takes the running version as "cancel the pending upgrade"; this said "Upgrade started." for
        # either, and for nothing at all.
        if found.get("rolloutPhase"):
            pending = found.get("desiredImage") or f"Airflow {found['desiredAirflowVersion']}"
            cancel_hint = hints.command(f"deployment upgrade {name} --cancel")
            raise typer.BadParameter(
                f"{name} already runs Airflow {airflow_version.strip()}; to withdraw the pending upgrade to "
                f"{pending}, run `{cancel_hint}`",
                param_hint="--airflow-version",
            )
        typer.echo(f"Nothing changed: {name} already runs Airflow {found['airflowVersion']}.")
        return
    elif not yes:
        # Checked before the confirmation (as `deployment create` does): a version the server refuses is said at
        # once, not after "pass --yes" or a question answered for nothing. The server refuses it the same way.
        offered = current.api.execute(VERSIONS)["deploymentConfig"]["airflowVersions"]
        if airflow_version.strip() not in offered:
            raise typer.BadParameter(
                f"{airflow_version!r} is not offered by this server; allowed: {', '.join(offered)} "
                "(values.yaml airpool.airflow.versions)",
                param_hint="--airflow-version",
            )
    if not yes:
        if not prompt.interactive():
            raise typer.BadParameter("no terminal to confirm on; pass --yes to upgrade", param_hint="--yes")
        typer.echo(
            f"The database of {name} is migrated to Airflow {airflow_version} first (Airflow {found['airflowVersion']} "
            "keeps running meanwhile); a migrated database is not migrated back.",
            err=True,
        )
        question = f"Upgrade {name} from Airflow {found['airflowVersion']} to {airflow_version}?"
        if not typer.confirm(question, default=False, err=True):
            typer.echo("Nothing changed.")
            return
    variables = {"deploymentUuid": found["id"], "desiredAirflowVersion": airflow_version}
    started: dict[str, Any] = current.api.execute(UPGRADE, variables)["updateDeploymentAirflow"]
    if quiet:
        output.print_json(started)
    else:
        typer.echo(f"Upgrade started. {_summary(started)}.")
        if started.get("rolloutPhase") == "awaiting-image":
            finish = f"airpool deployment deploy-image {name} <image> --airflow-version {airflow_version}"
            typer.echo(hints.rewrite(f"Deploy an Airflow {airflow_version} image to finish it: `{finish}`."))
        elif not wait_:
            cancel_hint = f"airpool deployment upgrade {name} --cancel"
            typer.echo(hints.rewrite(f"Cancel it before its migration starts: `{cancel_hint}`."))
    if wait_ and started.get("rolloutPhase") != "awaiting-image":
        _follow(current, started, timeout=timeout, quiet=quiet, done=_healthy_on(version=airflow_version))
        if not quiet:
            typer.echo(f"Deployment {name} runs Airflow {airflow_version} and is healthy.")


def _newer(version: str, than: str) -> bool:
    def key(v: str) -> tuple[int, ...]:
        try:
            return tuple(int(p) for p in v.split("."))
        except ValueError:
            return ()

    return key(version) > key(than)


def deploy_image(
    deployment: str = _DEPLOYMENT_ARGUMENT,
    image: str = typer.Argument(
        ...,
        metavar="IMAGE",
        # No square brackets: help text is rich markup, where "[@sha256:digest]" would vanish as a tag.
        help="Image reference built elsewhere: registry/name:tag, optionally followed by @sha256:digest.",
    ),
    airflow_version: str | None = typer.Option(
        None, "--airflow-version", "-a", help="The image's Airflow version (default: the running one)."
    ),
    wait_: bool = _WAIT_OPTION,
    timeout: float = _TIMEOUT_OPTION,
    workspace: str | None = _WORKSPACE_OPTION,
    fmt: output.Format = output.output_option(),
) -> None:
    """Roll a Deployment's Airflow components to an image built elsewhere; its migration runs first, and an image
    that cannot run leaves the current one running."""
    current = session.open_session()
    found = _find(current, deployment, workspace)
    name = found["releaseName"]
    variables = {"releaseName": name, "image": image, "airflowVersion": airflow_version}
    current.api.execute(DEPLOY_IMAGE, variables)
    queued: dict[str, Any] = current.api.execute(GET, {"id": found["id"]})["deployment"]
    quiet = fmt is output.Format.JSON
    if quiet:
        output.print_json(queued)
    else:
        typer.echo(f"Image deploy queued. {_summary(queued)}.")
    if wait_:
        version = airflow_version or found["airflowVersion"]
        _follow(current, queued, timeout=timeout, quiet=quiet, done=_healthy_on(version=version, image=image.strip()))
        if not quiet:
            typer.echo(f"Deployment {name} runs {image.strip()} and is healthy.")


def _named_by_option(
    exc: client.GraphQLError, sent: list[dict[str, Any]], *, set_: list[str], secret: list[str]
) -> AirpoolError:
    """The server names a refused variable by its place in the whole list the CLI sent (``environmentVariables[2]``,
    which the user never saw); name it by the option that gave it instead (``--set 1BAD=...``)."""
    found = re.match(r"environmentVariables\[(\d+)\]\.(key|value) ", exc.message)
    if found is None or int(found[1]) >= len(sent):
        return exc
    key = str(sent[int(found[1])]["key"])
    options = (("--secret", secret), ("--set", set_))
    option = next((opt for opt, given in options if any(i.partition("=")[0] == key for i in given)), None)
    if option is None:
        return exc
    shown = key if len(key) <= 40 else key[:40] + "..."
    return InvalidInput(f"{option} {shown}=...: {found[2]}" + exc.message[found.end() - 1 :] + "; nothing changed")


def variables(
    deployment: str = _DEPLOYMENT_ARGUMENT,
    set_: list[str] = typer.Option([], "--set", metavar="KEY=VALUE", help="Set a variable (shown in lists)."),
    secret: list[str] = typer.Option(
        [], "--secret", metavar="KEY=VALUE", help="Set a secret variable: its value is never shown again."
    ),
    unset: list[str] = typer.Option([], "--unset", metavar="KEY", help="Remove a variable."),
    workspace: str | None = _WORKSPACE_OPTION,
    fmt: output.Format = output.output_option(),
) -> None:
    """List a Deployment's environment variables, or change some of them (the others are kept; secret values are
    kept without being shown). Commander delivers them to every Airflow component."""
    current = session.open_session()
    found = deployment_cmd._resolve(current, deployment, workspace=workspace)
    listed = current.api.execute(VARIABLES, {"deploymentUuid": found["id"]})["deploymentVariables"]
    if set_ or secret or unset:
        items = {v["key"]: {"key": v["key"], "value": v["value"], "isSecret": v["isSecret"]} for v in listed}
        for key in unset:
            if key not in items:
                raise InvalidInput(f"variable {key!r} is not set on {found['releaseName']}; nothing changed")
            del items[key]
        for given, is_secret in ((set_, False), (secret, True)):
            for item in given:
                key, sep, value = item.partition("=")
                if not sep or not key:
                    option = "--secret" if is_secret else "--set"
                    raise typer.BadParameter(f"{item.split('=')[0]!r}... is not KEY=VALUE", param_hint=option)
                items[key] = {"key": key, "value": value, "isSecret": is_secret}
        sent = {"deploymentUuid": found["id"], "environmentVariables": list(items.values())}
        try:
            listed = current.api.execute(UPDATE_VARIABLES, sent)["updateDeploymentVariables"]
        except client.GraphQLError as exc:
            raise _named_by_option(exc, sent["environmentVariables"], set_=set_, secret=secret) from None
    rows = [
        {"key": v["key"], "value": "(secret)" if v["isSecret"] else v["value"], "secret": v["isSecret"]} for v in listed
    ]
    if fmt is output.Format.JSON:
        output.print_json(listed)
        return
    columns = [output.field("key", "key", copy=True), output.field("value", "value"), output.field("secret", "secret")]
    output.show(rows, columns, fmt=fmt, empty=f"No variables on {found['releaseName']}.")
