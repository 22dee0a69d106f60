"""``airpool login`` and ``airpool logout``: get a token from the server and keep it in the config file."""

from __future__ import annotations

import typer

from airpool.cli import client, exits, output, queries, settings
from airpool.domain.errors import AirpoolError

LOGIN_EPILOG = output.examples(
    "airpool login   # the current context's server, else http://localhost:8871",
    "airpool login https://airpool.example.com -u alice",
    "AIRPOOL_PASSWORD=... airpool login localhost:8871 -u ci-bot   # no prompt",
    "airpool login https://airpool.example.com --sso   # single sign-on: paste the token from <URL>/token",
)
LOGOUT_EPILOG = output.examples("airpool logout", "airpool logout --context prod.example.com")


@exits.handled
def login(
    url: str | None = typer.Argument(
        None, metavar="[URL]", help="Server address (default: the current context's, else localhost)."
    ),
    username: str | None = typer.Option(None, "--username", "-u", help="Your airpool username."),
    password: str | None = typer.Option(
        None, "--password", envvar="AIRPOOL_PASSWORD", help="Password (prompted, hidden, when not given).", hidden=True
    ),
    name: str | None = typer.Option(None, "--context", help="Name of the context to store (default: host:port)."),
    sso: bool = typer.Option(
        False, "--sso", help="Single sign-on: open <URL>/token in a browser, log in there and paste the token."
    ),
    token: str | None = typer.Option(
        None,
        "--token",
        envvar="AIRPOOL_TOKEN",
        help="With --sso: the token (prompted, hidden, when not given).",
        hidden=True,
    ),
) -> None:
    """Log in to an airpool server and make it the current context."""
    config = settings.load()
    existing = settings.current_or_none(config)
    server = client.normalize_server(url or (existing.server if existing else client.DEFAULT_SERVER))
    anonymous = client.Client(server=server)
    auth = anonymous.execute(queries.AUTH_CONFIG)["authConfig"]
    if not sso and not auth.get("localEnabled", True):
        raise AirpoolError(
            f"{server} does not accept username and password logins; log in with single sign-on: "
            f"`airpool login {server} --sso`"
        )
    if sso and not auth.get("providers"):
        raise AirpoolError(f"{server} offers no single sign-on; log in with a username and password")
    if auth.get("initialSignup") and not sso:
        raise AirpoolError(f"{server} has no users yet: sign up at {server}/ first (the first user becomes admin)")
    same_server = next((c for c in config.contexts.values() if c.server == server), None)
    context_name = name or (same_server.name if same_server else settings.context_name(server))
    previous = config.contexts.get(context_name)
    if sso:
        if token is None:
            typer.echo(f"Open {server}/token in a browser, log in, press Make a token and paste it here.")
            token = typer.prompt("Token", hide_input=True)
        token = token.strip()
        me = client.Client(server=server, token=token).execute(queries.SELF)["self"]
        login_name = str(me["username"])
    else:
        if username is None:
            username = typer.prompt("Username", default=previous.username if previous and previous.username else None)
        if password is None:
            password = typer.prompt("Password", hide_input=True)
        auth_user = anonymous.execute(queries.CREATE_TOKEN, {"identity": username, "password": password})["createToken"]
        token = auth_user["token"]["value"]
        login_name = auth_user["user"]["username"]
    workspaces = client.Client(server=server, token=token).execute(queries.WORKSPACES)["workspaces"]
    workspace = _keep_or_pick(workspaces, previous_id=previous.workspace_id if previous else None)
    config.contexts[context_name] = settings.Context(
        name=context_name,
        server=server,
        username=login_name,
        token=token,
        workspace_id=workspace["id"] if workspace else None,
        workspace_label=workspace["label"] if workspace else None,
    )
    config.current = context_name
    settings.save(config)
    typer.echo(f"Logged in to {server} as {login_name} (context {context_name}).")
    if workspace is None:
        typer.echo("You belong to no workspace yet; ask an admin to add you to one.")
    else:
        typer.echo(f"Workspace: {workspace['label']} ({workspace['id']}).")
        if len(workspaces) > 1:
            typer.echo(f"You belong to {len(workspaces)} workspaces; change with `airpool workspace switch`.")


def _keep_or_pick(workspaces: list[dict[str, str]], *, previous_id: str | None) -> dict[str, str] | None:
    """The workspace used before this login if it still exists, else the first one (their order is the server's)."""
    for workspace in workspaces:
        if workspace["id"] == previous_id:
            return workspace
    return workspaces[0] if workspaces else None


@exits.handled
def logout(
    name: str | None = typer.Option(None, "--context", help="Context to log out of (default: the current one)."),
) -> None:
    """End the session on the server (its token stops working everywhere) and forget it here; the context stays,
    so `airpool login` finds it again. An unreachable server still gets the token forgotten, and says so."""
    config = settings.load()
    context = settings.find(config, name=name) if name else settings.current(config)
    if not context.token:
        typer.echo(f"Already logged out of {context.server} (context {context.name}).")
        return
    note = ""
    try:
        client.Client(server=context.server, token=context.token).execute("mutation Logout { logout }")
    except client.Unreachable:
        note = " The server could not be reached, so the session itself ends only when it expires."
    except AirpoolError:
        pass  # the token no longer works (expired, revoked): nothing left to end on the server
    context.token = None
    settings.save(config)
    typer.echo(f"Logged out of {context.server} (context {context.name}).{note}")
