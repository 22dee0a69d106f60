"""Reading values files and merging them the way ``helm -f a.yaml -f b.yaml`` does.

Helm semantics matter because admins reuse their Astronomer values files unchanged: mappings merge key by key,
lists and scalars from a later file replace earlier ones, and ``null`` in a later file removes the key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from airpool.domain.errors import ConfigError


def read_values(path: Path) -> dict[str, Any]:
    """One file's top-level mapping; syntax errors name the file, line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: values file not found") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read values file ({exc.__class__.__name__}: {exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        what = " ".join(part for part in (exc.context, exc.problem) if part)
        raise ConfigError(f"{where}: YAML syntax error: {what}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: YAML syntax error: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys (like global:, airpool:), not a value")
    return data


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's coalescing of two values trees; neither input is changed."""
    result: dict[str, Any] = dict(base)
    for key, value in override.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merge(result[key], value)
        else:
            result[key] = value
    return result


def read_all(paths: Sequence[Path]) -> dict[str, Any]:
    """Every file merged in order (later files win); the first unreadable file stops the load."""
    tree: dict[str, Any] = {}
    for path in paths:
        tree = merge(tree, read_values(path))
    return tree
