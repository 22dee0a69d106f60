"""values.yaml in, one validated ``PlatformConfig`` out; nothing else in airpool parses configuration.

``load`` takes explicit files (``-f``); ``load_default`` takes them from ``AIRPOOL_VALUES`` (or uses the built-in
defaults). Both apply ``AIRPOOL_DATABASE_URL``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from airpool.config import auth, build, files
from airpool.config.model import (
    AirflowDefaults,
    DeploymentSettings,
    PlatformConfig,
    PoolSettings,
    PoolSource,
    ServerSettings,
)
from airpool.domain.errors import ConfigError

__all__ = [
    "AirflowDefaults",
    "ConfigError",
    "DeploymentSettings",
    "PlatformConfig",
    "PoolSettings",
    "PoolSource",
    "ServerSettings",
    "load",
    "load_default",
]

VALUES_ENV = "AIRPOOL_VALUES"
DATABASE_URL_ENV = "AIRPOOL_DATABASE_URL"


def load(paths: Sequence[Path], *, environ: Mapping[str, str] | None = None) -> PlatformConfig:
    """Merge ``paths`` in order (later files win) and validate; ``ConfigError`` lists every problem found.

    ``AIRPOOL_DATABASE_URL`` (from ``environ``, default the process environment) overrides the database URL, so
    a secret need not sit in a values file.
    """
    env = os.environ if environ is None else environ
    tree = files.read_all(paths)
    config, problems = build.build(tree, sources=tuple(str(path) for path in paths))
    if problems:
        where = ", ".join(str(path) for path in paths) or "the built-in defaults"
        lines = "\n".join(f"  - {problem}" for problem in problems)
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        raise ConfigError(f"invalid configuration ({count} in {where}):\n{lines}")
    database_url = env.get(DATABASE_URL_ENV, "").strip()
    if database_url:
        config = dataclasses.replace(config, database_url=database_url)
    return _client_secrets(config, env)


def _client_secrets(config: PlatformConfig, env: Mapping[str, str]) -> PlatformConfig:
    """``AUTH__OPENID_CONNECT__<PROVIDER>__CLIENT_SECRET`` (Houston's name, filled from a Secret by the chart's
    ``astronomer.houston.secret``) wins over a ``clientSecret`` written in values.yaml."""
    providers = []
    for provider in config.auth.providers:
        secret = env.get(auth.secret_env_name(provider.name), "").strip()
        providers.append(dataclasses.replace(provider, client_secret=secret) if secret else provider)
    return dataclasses.replace(config, auth=dataclasses.replace(config.auth, providers=tuple(providers)))


def load_default(environ: Mapping[str, str] | None = None) -> PlatformConfig:
    """The server's configuration: ``AIRPOOL_VALUES`` (os.pathsep-separated files) or the defaults."""
    env = os.environ if environ is None else environ
    paths = [Path(part) for part in env.get(VALUES_ENV, "").split(os.pathsep) if part.strip()]
    return load(paths, environ=env)
