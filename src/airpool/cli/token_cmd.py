"""``airpool token`` (API tokens for automation) and ``airpool user unblock`` (lift a log-in block)."""

from __future__ import annotations

import typer

from airpool.cli import exits, output, session

app = typer.Typer(
    help="Create, list and revoke your API tokens (for automation; each acts as you until revoked or expired).",
    no_args_is_help=True,
    epilog=output.examples(
        "airpool token create ci --expires-in-days 90",
        "airpool token list",
        "airpool token revoke 3f0c...   # the id from `airpool token list`",
    ),
)
user_app = typer.Typer(help="Accounts (system admins).", no_args_is_help=True)

LIST = "query ApiTokens { apiTokens { id label createdAt expiresAt lastUsedAt revokedAt } }"
CREATE = """
mutation CreateApiToken($label: String!, $expiresInDays: Int) {
  createApiToken(label: $label, expiresInDays: $expiresInDays) { id label value expiresAt }
}"""
REVOKE = "mutation RevokeApiToken($id: Uuid!) { revokeApiToken(id: $id) { id label revokedAt } }"
UNBLOCK = "mutation UnblockLogin($username: String!) { unblockLogin(username: $username) }"

_COLUMNS = [
    output.field("id", "id"),
    output.field("label", "label"),
    output.field("created", "createdAt"),
    output.field("expires", "expiresAt"),
    output.field("revoked", "revokedAt"),
]


@app.command("list")
@exits.handled
def list_tokens(fmt: output.Format = output.output_option()) -> None:
    """Your API tokens, revoked and expired ones included (their secrets are never shown again)."""
    rows = session.open_session().api.execute(LIST)["apiTokens"]
    output.show(rows, _COLUMNS, fmt=fmt, empty="You have no API tokens.")


@app.command("create")
@exits.handled
def create(
    label: str = typer.Argument(..., help="What the token is for (shown by `airpool token list`)."),
    expires_in_days: int | None = typer.Option(None, "--expires-in-days", help="1 to 3650; default: never."),
) -> None:
    """A new API token; its secret is printed once, on stdout alone, so it can be piped into a secret store."""
    made = session.open_session().api.execute(CREATE, {"label": label, "expiresInDays": expires_in_days})
    token = made["createApiToken"]
    typer.echo(token["value"])
    expiry = f"expires {token['expiresAt']}" if token["expiresAt"] else "does not expire"
    typer.echo(
        f"API token {token['id']} ({token['label']}) {expiry}; revoke it with `airpool token revoke {token['id']}`.",
        err=True,
    )


@app.command("revoke")
@exits.handled
def revoke(token_id: str = typer.Argument(..., metavar="ID", help="The id from `airpool token list`.")) -> None:
    """Revoke an API token: every request made with it is refused from now on."""
    revoked = session.open_session().api.execute(REVOKE, {"id": token_id})["revokeApiToken"]
    typer.echo(f"API token {revoked['id']} ({revoked['label']}) revoked at {revoked['revokedAt']}.")


@user_app.command("unblock")
@exits.handled
def unblock(username: str = typer.Argument(..., help="The account blocked after failed log-ins.")) -> None:
    """Lift the log-in block of an account after too many failed log-ins (system admins)."""
    had = session.open_session().api.execute(UNBLOCK, {"username": username})["unblockLogin"]
    typer.echo(f"{username} may log in again." if had else f"{username} was not blocked.")
