"""What most commands start with: the current context, a client carrying its token, and the workspace to act in."""

from __future__ import annotations

import dataclasses

from airpool.cli import client, settings
from airpool.domain.errors import AirpoolError


@dataclasses.dataclass(frozen=True)
class Session:
    config: settings.Settings
    context: settings.Context
    api: client.Client

    def workspace_id(self, override: str | None = None) -> str:
        """The workspace a command acts in: ``--workspace`` or the context's; an error saying how to pick one."""
        chosen = override or self.context.workspace_id
        if not chosen:
            raise AirpoolError("no workspace selected; run `airpool workspace list` and `airpool workspace switch`")
        return chosen


def open_session() -> Session:
    """A session for a logged-in context; an error that says how to log in otherwise."""
    config = settings.load()
    context = settings.current(config)
    if not context.token:
        raise settings.NotLoggedIn(
            f"you are logged out of {context.server} (context {context.name!r}); run `airpool login {context.server}`"
        )
    return Session(config=config, context=context, api=client.Client(server=context.server, token=context.token))
