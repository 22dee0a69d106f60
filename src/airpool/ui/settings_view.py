"""The Settings page's rows: ``config.describe`` (values.yaml key names, secrets masked) flattened per section.

Reusing ``describe`` keeps the page, ``airpool config validate`` and the docs in the same words, and a setting
added there shows up here without touching the UI.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airpool.config.describe import describe
from airpool.config.model import PlatformConfig

_TITLES = {"namespacePool": "Namespace pool", "rbac": "RBAC", "namespaceLabels": "Namespace labels"}


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) if value else "(none)"
    return str(value)


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, Mapping) and value:
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out.append((prefix or "(empty)", "(none)" if isinstance(value, Mapping) else _show(value)))


def sections(config: PlatformConfig) -> list[tuple[str, list[tuple[str, str]]]]:
    result = []
    for name, value in describe(config).items():
        rows: list[tuple[str, str]] = []
        _flatten("", value, rows)
        result.append((_TITLES.get(name, name[:1].upper() + name[1:]), rows))
    return result
