"""Reading values files and merging them the way ``helm -f a.yaml -f b.yaml`` does.

Helm semantics matter because admins reuse their Astronomer values files unchanged: mappings merge key by key,
lists and scalars from a later file replace earlier ones, and ``null`` in a later file removes the key.

YAML 1.1 (PyYAML) reads some unquoted words as something else: ``no``/``off`` become false, ``010`` becomes 8,
``~`` becomes null, and YAML 1.2 parsers (Helm's) read ``1e3`` as a number. So that the configuration can refuse a
value that means something other than what was written, every unquoted scalar that is not plainly text is
remembered with its source text (``Values.written``, keyed by its path in the tree).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import yaml

from airpool.domain.errors import ConfigError

#: A path in a values tree: mapping keys and list indexes.
Path_ = tuple[str | int, ...]

_STR_TAG = "tag:yaml.org,2002:str"
#: What YAML 1.2's core schema reads as a number although PyYAML (YAML 1.1) keeps it as text.
_YAML12_NUMBER = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|0o[0-7]+|0x[0-9a-fA-F]+|[-+]?\.(?:inf|Inf|INF)"
    r"|\.(?:nan|NaN|NAN))$"
)


class Values(dict[str, Any]):
    """A values tree plus the source text of its unquoted non-text scalars (see module docstring)."""

    written: dict[Path_, str]

    def __init__(self, data: Mapping[str, Any] = (), written: Mapping[Path_, str] | None = None) -> None:  # type: ignore[assignment]
        super().__init__(data)
        self.written = dict(written or {})


def _plain_scalars(node: yaml.Node, path: Path_, out: dict[Path_, str], depth: int = 0) -> None:
    if depth > 100:  # aliases can make a tree recursive; nothing in a values file is this deep
        return
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag == _STR_TAG:
                _plain_scalars(value, (*path, key.value), out, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _plain_scalars(item, (*path, index), out, depth + 1)
    elif (
        isinstance(node, yaml.ScalarNode)
        and not node.style  # plain: None from PyYAML's parser, "" from libyaml's
        and (node.tag != _STR_TAG or _YAML12_NUMBER.match(node.value))
    ):
        out[path] = node.value


def read_values(path: Path) -> Values:
    """One file's top-level mapping; syntax errors name the file, line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: values file not found") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read values file ({exc.__class__.__name__}: {exc})") from None
    try:
        # libyaml's parser when PyYAML has it (a pool of 10,000 names parses in a tenth of the time); on an error
        # the pure-Python parser reads the file again, so the message is the same whichever is installed.
        data, written = _parse(text, getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        try:
            data, written = _parse(text, yaml.SafeLoader)
        except yaml.YAMLError as exc:
            _syntax_error(path, exc)
    if data is None:
        return Values()
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys (like global:, airpool:), not a value")
    return Values(data, written)


def _parse(text: str, loader_class: Any) -> tuple[Any, dict[Path_, str]]:
    written: dict[Path_, str] = {}
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
        if node is not None:
            _plain_scalars(node, (), written)
    finally:
        loader.dispose()
    return data, written


def _syntax_error(path: Path, exc: yaml.YAMLError) -> NoReturn:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        what = " ".join(part for part in (exc.context, exc.problem) if part)
        raise ConfigError(f"{where}: YAML syntax error: {what}") from None
    raise ConfigError(f"{path}: YAML syntax error: {exc}") from None


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


def read_all(paths: Sequence[Path]) -> Values:
    """Every file merged in order (later files win); the first unreadable file stops the load."""
    tree: dict[str, Any] = {}
    written: dict[Path_, str] = {}
    for path in paths:
        values = read_values(path)
        tree = merge(tree, values)
        replaced = _replaced_paths(values, ())
        written = {keys: text for keys, text in written.items() if not any(keys[: len(r)] == r for r in replaced)}
        written.update(values.written)
    return Values(tree, written)


def _replaced_paths(node: Mapping[str, Any], path: Path_) -> list[Path_]:
    """The paths whose values a file replaces when merged over another (everything but mappings, which merge)."""
    found: list[Path_] = []
    for key, value in node.items():
        if isinstance(value, Mapping):
            found.extend(_replaced_paths(value, (*path, key)))
        else:
            found.append((*path, key))
    return found
