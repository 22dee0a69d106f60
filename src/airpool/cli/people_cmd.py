"""``airpool workspace user``, ``airpool deployment user``, ``airpool service-account`` and ``airpool team``:
who may do what, over the same API operations the astro CLI uses (the server checks every role).

Roles are given as Houston names (``WORKSPACE_EDITOR``, ``DEPLOYMENT_VIEWER``) or short (``editor``, ``viewer``).
"""

from __future__ import annotations

from typing import Any

import typer

from airpool.cli import deleting, exits, output, queries, session
from airpool.domain.errors import NotFound

_WORKSPACE_OPTION = typer.Option(None, "--workspace", "-w", help="Workspace id (default: the current one).")
_ROLE_NAMES = ("admin", "editor", "viewer")

workspace_users = typer.Typer(
    help="List the members of a workspace, add them, change their role, remove them.",
    no_args_is_help=True,
    epilog=output.examples(
        "airpool workspace user list",
        "airpool workspace user add vera@example.com --role editor",
        "airpool workspace user update vera@example.com --role WORKSPACE_ADMIN",
        "airpool workspace user remove vera@example.com",
    ),
)
deployment_users = typer.Typer(
    help="Give workspace members a role on one Deployment (on top of their workspace role).",
    no_args_is_help=True,
    epilog=output.examples(
        "airpool deployment user list etl",
        "airpool deployment user add etl vera@example.com --role admin",
        "airpool deployment user remove etl vera@example.com",
    ),
)
service_accounts = typer.Typer(
    help="API keys for automation, with one role in one workspace or one Deployment.",
    no_args_is_help=True,
    epilog=output.examples(
        "airpool service-account create --label ci --role editor            # in the current workspace",
        "airpool service-account create --label deployer --deployment etl --role admin",
        "airpool service-account list",
        "airpool service-account delete <id>",
    ),
)
teams = typer.Typer(
    help="Groups of users whose roles apply to every member (system admins manage them).",
    no_args_is_help=True,
    epilog=output.examples(
        "airpool team create data-eng",
        "airpool team add-user data-eng vera@example.com",
        "airpool team grant data-eng --role editor     # in the current workspace",
        "airpool team list",
    ),
)


def _role(value: str, scope: str) -> str:
    text = value.strip()
    if text.lower() in _ROLE_NAMES:
        return f"{scope}_{text}".upper()
    return text.upper()


def _role_in(user: dict[str, Any], *, workspace_id: str | None = None, deployment_id: str | None = None) -> str:
    for binding in user.get("roleBindings") or ():
        if deployment_id and (binding.get("deployment") or {}).get("id") == deployment_id:
            return str(binding["role"])
        if (
            workspace_id
            and not binding.get("deployment")
            and (binding.get("workspace") or {}).get("id") == workspace_id
        ):
            return str(binding["role"])
    return ""


# --- workspace users -----------------------------------------------------------------------------------------------


@workspace_users.command("list")
@exits.handled
def workspace_user_list(workspace: str | None = _WORKSPACE_OPTION, fmt: output.Format = output.output_option()) -> None:
    """List the workspace's members and their roles."""
    current = session.open_session()
    ws = current.workspace_id(workspace)
    users = current.api.execute(queries.WORKSPACE_USERS, {"workspaceUuid": ws})["workspaceUsers"]
    rows = [{"username": u["username"], "role": _role_in(u, workspace_id=ws), "id": u["id"]} for u in users]
    columns = [
        output.field("username", "username", copy=True),
        output.field("role", "role"),
        output.field("id", "id", copy=True),
    ]
    output.show(rows, columns, fmt=fmt, empty="This workspace has no members.")


@workspace_users.command("add")
@exits.handled
def workspace_user_add(
    email: str = typer.Argument(..., help="The user's email (their username)."),
    role: str = typer.Option("viewer", "--role", "-r", help="admin, editor or viewer (or WORKSPACE_ADMIN, ...)."),
    workspace: str | None = _WORKSPACE_OPTION,
) -> None:
    """Add an existing user to the workspace."""
    current = session.open_session()
    ws = current.workspace_id(workspace)
    wanted = _role(role, "workspace")
    found = current.api.execute(queries.WORKSPACE_ADD_USER, {"workspaceUuid": ws, "email": email, "role": wanted})
    typer.echo(f"Added {email} to workspace {found['workspaceAddUser']['label']} as {wanted}.")


@workspace_users.command("update")
@exits.handled
def workspace_user_update(
    email: str = typer.Argument(..., help="The member's email."),
    role: str = typer.Option(..., "--role", "-r", help="admin, editor or viewer (or WORKSPACE_ADMIN, ...)."),
    workspace: str | None = _WORKSPACE_OPTION,
) -> None:
    """Change a member's role."""
    current = session.open_session()
    ws = current.workspace_id(workspace)
    variables = {"workspaceUuid": ws, "email": email, "role": _role(role, "workspace")}
    new_role = current.api.execute(queries.WORKSPACE_UPSERT_USER_ROLE, variables)["workspaceUpsertUserRole"]
    typer.echo(f"{email} is now {new_role}.")


@workspace_users.command("remove")
@exits.handled
def workspace_user_remove(
    email: str = typer.Argument(..., help="The member's email."), workspace: str | None = _WORKSPACE_OPTION
) -> None:
    """Remove a member from the workspace (with their Deployment roles there)."""
    current = session.open_session()
    ws = current.workspace_id(workspace)
    user = current.api.execute(queries.WORKSPACE_USER, {"workspaceUuid": ws, "email": email})["workspaceUser"]
    found = current.api.execute(queries.WORKSPACE_REMOVE_USER, {"workspaceUuid": ws, "userUuid": user["id"]})
    typer.echo(f"Removed {email} from workspace {found['workspaceRemoveUser']['label']}.")


# --- Deployment users ----------------------------------------------------------------------------------------------


_DEPLOYMENT_ARGUMENT = typer.Argument(..., help="Deployment id, release name or label.")


@deployment_users.command("list")
@exits.handled
def deployment_user_list(
    deployment: str = _DEPLOYMENT_ARGUMENT,
    workspace: str | None = _WORKSPACE_OPTION,
    fmt: output.Format = output.output_option(),
) -> None:
    """List the users holding a role on the Deployment."""
    current = session.open_session()
    dep = deleting.resolve(current, deployment, workspace=workspace)
    users = current.api.execute(queries.DEPLOYMENT_USERS, {"deploymentId": dep["id"]})["deploymentUsers"]
    rows = [{"username": u["username"], "role": _role_in(u, deployment_id=dep["id"]), "id": u["id"]} for u in users]
    columns = [
        output.field("username", "username", copy=True),
        output.field("role", "role"),
        output.field("id", "id", copy=True),
    ]
    output.show(rows, columns, fmt=fmt, empty=f"Nobody has a role on {dep['releaseName']} of its own.")


def _deployment_role_change(
    document: str, field: str, deployment: str, email: str, role: str | None, workspace: str | None
) -> dict[str, Any]:
    current = session.open_session()
    dep = deleting.resolve(current, deployment, workspace=workspace)
    variables: dict[str, Any] = {"deploymentId": dep["id"], "email": email}
    if role is not None:
        variables["role"] = _role(role, "deployment")
    result: dict[str, Any] = current.api.execute(document, variables)[field]
    return result


@deployment_users.command("add")
@exits.handled
def deployment_user_add(
    deployment: str = _DEPLOYMENT_ARGUMENT,
    email: str = typer.Argument(..., help="A member of the workspace."),
    role: str = typer.Option("viewer", "--role", "-r", help="admin, editor or viewer (or DEPLOYMENT_ADMIN, ...)."),
    workspace: str | None = _WORKSPACE_OPTION,
) -> None:
    """Give a workspace member a role on the Deployment."""
    binding = _deployment_role_change(
        queries.DEPLOYMENT_ADD_USER_ROLE, "deploymentAddUserRole", deployment, email, role, workspace
    )
    typer.echo(f"{email} is now {binding['role']} on {binding['deployment']['releaseName']}.")


@deployment_users.command("update")
@exits.handled
def deployment_user_update(
    deployment: str = _DEPLOYMENT_ARGUMENT,
    email: str = typer.Argument(..., help="The user's email."),
    role: str = typer.Option(..., "--role", "-r", help="admin, editor or viewer (or DEPLOYMENT_ADMIN, ...)."),
    workspace: str | None = _WORKSPACE_OPTION,
) -> None:
    """Change a user's role on the Deployment."""
    binding = _deployment_role_change(
        queries.DEPLOYMENT_UPDATE_USER_ROLE, "deploymentUpdateUserRole", deployment, email, role, workspace
    )
    typer.echo(f"{email} is now {binding['role']} on {binding['deployment']['releaseName']}.")


@deployment_users.command("remove")
@exits.handled
def deployment_user_remove(
    deployment: str = _DEPLOYMENT_ARGUMENT,
    email: str = typer.Argument(..., help="The user's email."),
    workspace: str | None = _WORKSPACE_OPTION,
) -> None:
    """Remove a user's role on the Deployment (their workspace role stays)."""
    binding = _deployment_role_change(
        queries.DEPLOYMENT_REMOVE_USER_ROLE, "deploymentRemoveUserRole", deployment, email, None, workspace
    )
    typer.echo(f"Removed {email}'s {binding['role']} on {binding['deployment']['releaseName']}.")


# --- service accounts ----------------------------------------------------------------------------------------------

_SA_DEPLOYMENT_OPTION = typer.Option(
    None, "--deployment", "-d", help="Deployment id, release name or label (default: the workspace's accounts)."
)


@service_accounts.command("create")
@exits.handled
def service_account_create(
    label: str = typer.Option(..., "--label", "-l", help="What the account is for."),
    role: str = typer.Option("viewer", "--role", "-r", help="admin, editor or viewer (or WORKSPACE_/DEPLOYMENT_...)."),
    deployment: str | None = _SA_DEPLOYMENT_OPTION,
    category: str = typer.Option("", "--category", "-c", help="A free-form category."),
    workspace: str | None = _WORKSPACE_OPTION,
) -> None:
    """Create a service account and print its API key (shown this once: store it now)."""
    current = session.open_session()
    if deployment:
        dep = deleting.resolve(current, deployment, workspace=workspace)
        variables = {
            "label": label,
            "category": category,
            "deploymentUuid": dep["id"],
            "role": _role(role, "deployment"),
        }
        account = current.api.execute(queries.CREATE_DEPLOYMENT_SERVICE_ACCOUNT, variables)[
            "createDeploymentServiceAccount"
        ]
    else:
        ws = current.workspace_id(workspace)
        variables = {"label": label, "category": category, "workspaceUuid": ws, "role": _role(role, "workspace")}
        account = current.api.execute(queries.CREATE_WORKSPACE_SERVICE_ACCOUNT, variables)[
            "createWorkspaceServiceAccount"
        ]
    typer.echo(f"Created service account {account['label']} ({account['id']}) with {account['roleBinding']['role']}.")
    typer.echo("API key (shown once; send it as the authorization header):")
    typer.echo(account["apiKey"])


@service_accounts.command("list")
@exits.handled
def service_account_list(
    deployment: str | None = _SA_DEPLOYMENT_OPTION,
    workspace: str | None = _WORKSPACE_OPTION,
    fmt: output.Format = output.output_option(),
) -> None:
    """List the service accounts of the workspace, or of one Deployment (keys are never shown again)."""
    current = session.open_session()
    if deployment:
        dep = deleting.resolve(current, deployment, workspace=workspace)
        rows = current.api.execute(queries.DEPLOYMENT_SERVICE_ACCOUNTS, {"deploymentUuid": dep["id"]})[
            "deploymentServiceAccounts"
        ]
    else:
        ws = current.workspace_id(workspace)
        rows = current.api.execute(queries.WORKSPACE_SERVICE_ACCOUNTS, {"workspaceUuid": ws})[
            "workspaceServiceAccounts"
        ]
    for row in rows:
        row["role"] = row["roleBinding"]["role"]
    columns = [
        output.field("label", "label"),
        output.field("role", "role"),
        output.field("category", "category"),
        output.field("last used", "lastUsedAt"),
        output.field("id", "id", copy=True),
    ]
    output.show(rows, columns, fmt=fmt, empty="No service accounts here.")


@service_accounts.command("delete")
@exits.handled
def service_account_delete(
    account_id: str = typer.Argument(..., metavar="ID", help="The service account's id (see `list`)."),
    deployment: str | None = _SA_DEPLOYMENT_OPTION,
    workspace: str | None = _WORKSPACE_OPTION,
) -> None:
    """Delete a service account: its key stops working at once."""
    current = session.open_session()
    if deployment:
        dep = deleting.resolve(current, deployment, workspace=workspace)
        variables = {"serviceAccountUuid": account_id, "deploymentUuid": dep["id"]}
        gone = current.api.execute(queries.DELETE_DEPLOYMENT_SERVICE_ACCOUNT, variables)[
            "deleteDeploymentServiceAccount"
        ]
    else:
        variables = {"serviceAccountUuid": account_id, "workspaceUuid": current.workspace_id(workspace)}
        gone = current.api.execute(queries.DELETE_WORKSPACE_SERVICE_ACCOUNT, variables)["deleteWorkspaceServiceAccount"]
    typer.echo(f"Deleted service account {gone['label']} ({gone['id']}); its key no longer works.")


# --- teams ---------------------------------------------------------------------------------------------------------


def _team(current: session.Session, ref: str) -> dict[str, Any]:
    found = current.api.execute(queries.TEAMS, {})["paginatedTeams"]["teams"]
    matches = [t for t in found if ref in (t["id"], t["name"])]
    if len(matches) != 1:
        raise NotFound(f"no team {ref!r}; see `airpool team list`")
    return dict(matches[0])


@teams.command("list")
@exits.handled
def team_list(fmt: output.Format = output.output_option()) -> None:
    """List the teams you may see (system admins: all) with their roles."""
    current = session.open_session()
    found = current.api.execute(queries.TEAMS, {})["paginatedTeams"]["teams"]
    for team in found:
        team["roles"] = ", ".join(
            f"{b['role']}"
            + (f" on {b['deployment']['releaseName']}" if b.get("deployment") else "")
            + (f" in {b['workspace']['label']}" if b.get("workspace") and not b.get("deployment") else "")
            for b in team["roleBindings"]
        )
    columns = [
        output.field("name", "name"),
        output.field("source", "source"),
        output.field("roles", "roles"),
        output.field("id", "id", copy=True),
    ]
    output.show(found, columns, fmt=fmt, empty="No teams yet (a system admin creates them: `airpool team create`).")


@teams.command("create")
@exits.handled
def team_create(name: str = typer.Argument(..., help="The team's name.")) -> None:
    """Create a team (system admins)."""
    current = session.open_session()
    team = current.api.execute(queries.CREATE_TEAM, {"name": name})["createTeam"]
    typer.echo(f"Created team {team['name']} ({team['id']}).")


@teams.command("delete")
@exits.handled
def team_delete(team: str = typer.Argument(..., help="Team name or id.")) -> None:
    """Delete a team: its members lose the roles it gave them (system admins)."""
    current = session.open_session()
    gone = current.api.execute(queries.DELETE_TEAM, {"teamUuid": _team(current, team)["id"]})["deleteTeam"]
    typer.echo(f"Deleted team {gone['name']}.")


@teams.command("add-user")
@exits.handled
def team_add_user(team: str = typer.Argument(..., help="Team name or id."), email: str = typer.Argument(...)) -> None:
    """Add a user to a team (system admins)."""
    current = session.open_session()
    found = _team(current, team)
    current.api.execute(queries.TEAM_ADD_USER, {"teamUuid": found["id"], "email": email})
    typer.echo(f"Added {email} to team {found['name']}.")


@teams.command("remove-user")
@exits.handled
def team_remove_user(
    team: str = typer.Argument(..., help="Team name or id."), email: str = typer.Argument(...)
) -> None:
    """Remove a user from a team (system admins)."""
    current = session.open_session()
    found = _team(current, team)
    members = current.api.execute(queries.TEAM_USERS, {"teamUuid": found["id"]})["teamUsers"]
    user = next((u for u in members if u["username"] == email), None)
    if user is None:
        raise NotFound(f"{email} is not a member of team {found['name']}")
    current.api.execute(queries.TEAM_REMOVE_USER, {"teamUuid": found["id"], "userUuid": user["id"]})
    typer.echo(f"Removed {email} from team {found['name']}.")


@teams.command("grant")
@exits.handled
def team_grant(
    team: str = typer.Argument(..., help="Team name or id."),
    role: str = typer.Option("viewer", "--role", "-r", help="admin, editor or viewer (or WORKSPACE_ADMIN, ...)."),
    workspace: str | None = _WORKSPACE_OPTION,
) -> None:
    """Give a team a role in the workspace (workspace admins)."""
    current = session.open_session()
    found = _team(current, team)
    ws = current.workspace_id(workspace)
    wanted = _role(role, "workspace")
    done = current.api.execute(
        queries.WORKSPACE_ADD_TEAM, {"workspaceUuid": ws, "teamUuid": found["id"], "role": wanted}
    )
    typer.echo(f"Team {found['name']} is now {wanted} in workspace {done['workspaceAddTeam']['label']}.")
