"""The CLI's own config file: one context per server (address, user, token, workspace), like a kubeconfig.

The file holds bearer tokens, so it is written atomically and only ever with mode 0600 (its folder 0700): a
reader never sees half a file, and no other local user can read a token. YAML is imported only when the file is
actually read or written, to keep ``airpool --help`` fast.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any

from airpool.domain.errors import AirpoolError, NotFound

#: Overrides the file's location (tests, several installations side by side).
CONFIG_ENV = "AIRPOOL_CONFIG"
#: Overrides the file's current context for one command, like ``kubectl --context``.
CONTEXT_ENV = "AIRPOOL_CONTEXT"

FILE_MODE = 0o600
DIR_MODE = 0o700


class NotLoggedIn(AirpoolError):
    code = "UNAUTHENTICATED"


@dataclasses.dataclass
class Context:
    name: str
    server: str
    username: str | None = None
    token: str | None = None
    workspace_id: str | None = None
    workspace_label: str | None = None


@dataclasses.dataclass
class Settings:
    path: Path
    current: str | None = None
    contexts: dict[str, Context] = dataclasses.field(default_factory=dict)


def config_path() -> Path:
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "airpool" / "config.yaml"


def load(path: Path | None = None) -> Settings:
    """The settings in ``path`` (default: :func:`config_path`); an absent file is an empty configuration."""
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings(path=path)
    except OSError as exc:
        raise AirpoolError(f"cannot read the config file {path}: {exc.strerror}") from None
    import yaml

    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise AirpoolError(
            f"the config file {path}{where} is not valid YAML; fix it or remove it and log in again"
        ) from None
    return _from_data(raw, path=path)


def _from_data(raw: Any, *, path: Path) -> Settings:
    if raw is None:
        return Settings(path=path)
    if not isinstance(raw, dict):
        raise AirpoolError(f"the config file {path} must hold a mapping with 'contexts' and 'current-context'")
    contexts: dict[str, Context] = {}
    raw_contexts = raw.get("contexts") or {}
    if not isinstance(raw_contexts, dict):
        raise AirpoolError(f"the config file {path}: 'contexts' must be a mapping of context name to settings")
    fields = {f.name for f in dataclasses.fields(Context)} - {"name"}
    for name, entry in raw_contexts.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("server"), str):
            raise AirpoolError(f"the config file {path}: contexts.{name} must be a mapping with a 'server' URL")
        values = {key.replace("-", "_"): value for key, value in entry.items()}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise AirpoolError(
                f"the config file {path}: contexts.{name} has unknown keys {', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(f.replace('_', '-') for f in fields))}"
            )
        text: dict[str, Any] = {k: None if v is None else str(v) for k, v in values.items()}
        contexts[str(name)] = Context(name=str(name), **text)
    current = raw.get("current-context")
    return Settings(path=path, current=str(current) if current else None, contexts=contexts)


def _to_data(settings: Settings) -> dict[str, Any]:
    contexts = {}
    for ctx in settings.contexts.values():
        entry = {
            field.name.replace("_", "-"): getattr(ctx, field.name)
            for field in dataclasses.fields(ctx)
            if field.name != "name" and getattr(ctx, field.name) is not None
        }
        contexts[ctx.name] = entry
    return {"current-context": settings.current, "contexts": contexts}


def save(settings: Settings) -> None:
    """Replace the file atomically; the new file is created 0600 so a token is never readable by others."""
    import yaml

    path = settings.path
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    text = yaml.safe_dump(_to_data(settings), sort_keys=False, default_flow_style=False)
    fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".yaml", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def current(settings: Settings) -> Context:
    """The context a command works with: ``$AIRPOOL_CONTEXT`` or the file's current context."""
    name = os.environ.get(CONTEXT_ENV) or settings.current
    if not name:
        raise NotLoggedIn("you are not logged in; run `airpool login URL` first (for example http://localhost:8871)")
    return find(settings, name=name)


def current_or_none(settings: Settings) -> Context | None:
    name = os.environ.get(CONTEXT_ENV) or settings.current
    return settings.contexts.get(name) if name else None


def find(settings: Settings, *, name: str) -> Context:
    try:
        return settings.contexts[name]
    except KeyError:
        known = ", ".join(sorted(settings.contexts)) or "none"
        raise NotFound(f"context {name!r} is not in {settings.path}; known contexts: {known}") from None


def context_name(server: str) -> str:
    """The default context name for a server: its host and port, which is what people call it."""
    return server.split("://", 1)[-1].rstrip("/")
