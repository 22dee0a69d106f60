"""The ``airpool`` command: one Typer app with a sub-app per area.

Start-up time matters (``airpool --help`` runs often), so sub-modules import heavy libraries inside their
commands, never at module level.
"""

from __future__ import annotations

import typer

import airpool

app = typer.Typer(
    name="airpool",
    help="Run Apache Airflow Deployments on a shared Kubernetes cluster, with a pool of pre-created namespaces.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"airpool {airpool.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """airpool: Apache Airflow on a shared Kubernetes cluster."""


def _flags_show_no_value() -> None:
    """typer prints a flag's type in help as if it took a value (``--wait <bool>``, ``--help -h <bool>``); a flag
    takes none, so its type column stays empty. One override of typer's option class, checked by the help tests."""
    from typer import core

    shown = core.TyperOption.display_type_rich

    def display_type_rich(self: core.TyperOption, ctx: object) -> str | None:
        return None if self.is_flag else shown(self, ctx)  # type: ignore[arg-type]

    core.TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


def _register() -> None:
    from airpool.cli import dev

    app.add_typer(dev.app, name="dev")

    from airpool.cli import serve_cmd

    app.command("serve")(serve_cmd.serve)

    from airpool.cli import config_cmd

    app.add_typer(config_cmd.app, name="config")

    from airpool.cli import auth_cmd, context_cmd, deployment_cmd, pool_cmd, workspace_cmd

    app.command("login", epilog=auth_cmd.LOGIN_EPILOG)(auth_cmd.login)
    app.command("logout", epilog=auth_cmd.LOGOUT_EPILOG)(auth_cmd.logout)
    app.add_typer(context_cmd.app, name="context")
    app.add_typer(workspace_cmd.app, name="workspace")
    app.add_typer(deployment_cmd.app, name="deployment")
    from airpool.cli import deployment_change_cmd as change
    from airpool.cli import exits, output

    for name, command, examples in (
        ("update", change.update, ("airpool deployment update etl --executor celery --replicas workers=2 --wait",
                                   "airpool deployment update etl --cpu scheduler=2 --memory scheduler=4Gi")),
        ("upgrade", change.upgrade, ("airpool deployment upgrade etl --airflow-version 3.3.2 --wait",
                                     "airpool deployment upgrade etl --cancel")),
        ("deploy-image", change.deploy_image, ("airpool deployment deploy-image etl registry.example.com/etl:7",)),
        ("variables", change.variables, ("airpool deployment variables etl",
                                         "airpool deployment variables etl --set MODE=prod --secret API_TOKEN=...")),
    ):  # fmt: skip
        deployment_cmd.app.command(name, epilog=output.examples(*examples))(exits.handled(command))
    app.add_typer(pool_cmd.app, name="pool")

    from airpool.cli import logs_cmd, people_cmd

    del logs_cmd  # it adds `deployment logs` to deployment_cmd.app

    workspace_cmd.app.add_typer(people_cmd.workspace_users, name="user")
    deployment_cmd.app.add_typer(people_cmd.deployment_users, name="user")
    app.add_typer(people_cmd.service_accounts, name="service-account")
    app.add_typer(people_cmd.teams, name="team")

    from airpool.cli import token_cmd

    app.add_typer(token_cmd.app, name="token")
    app.add_typer(token_cmd.user_app, name="user")

    from airpool.cli import commander_cmd

    app.command("commander", help=commander_cmd.HELP)(commander_cmd.commander)

    from airpool.cli import cleanup_cmd, db_cmd

    app.add_typer(db_cmd.app, name="db")
    app.command("cleanup")(cleanup_cmd.cleanup)


_flags_show_no_value()
_register()


def run() -> None:
    app()
