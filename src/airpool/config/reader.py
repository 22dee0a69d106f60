"""Typed reads from the merged values tree that collect every problem instead of stopping at the first.

An admin fixing values.yaml wants the whole list in one run, so each read records a problem and returns a
default rather than raising. The reader also remembers which keys it looked at: what nobody read is either an
Astronomer chart key airpool does not use (a note) or, under ``airpool:``, a typo (an error).

Where the tree came from files (``files.Values``) the reader also knows how each unquoted non-text scalar was
written, and refuses a value that YAML reads as something else than what was written where text or a number is
expected (``tier: no`` is false, ``cost-center: 010`` is 8, ``~`` is null, Helm reads ``1e3`` as 1000): the
message names the key path and says to quote it.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

_MISSING: Any = object()


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def show(value: object) -> str:
    """A value as the admin wrote it in YAML terms (true, null, "text"), not Python's repr."""
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except ValueError:
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _dotted(keys: tuple[str | int, ...]) -> str:
    """A tree path in the reader's notation: ``a.b[2].c``."""
    text = ""
    for key in keys:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else key)
    return text


def _canonical(value: bool | str | int | float) -> str:
    """A scalar as text, the way it reads when written plainly (true, 3, 2.5)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


class Reader:
    """Reads dotted paths (``global.features.namespacePools.enabled``) from one merged values tree."""

    def __init__(self, tree: Mapping[str, Any]) -> None:
        self._tree = tree
        self.problems: list[Problem] = []
        self._read: set[tuple[str, ...]] = set()
        written: Mapping[tuple[str | int, ...], str] = getattr(tree, "written", {})
        self._written = {_dotted(keys): text for keys, text in written.items()}

    def written(self, path: str) -> str | None:
        """How the unquoted scalar at ``path`` was written, when it was not plainly text (None otherwise)."""
        return self._written.get(path)

    def misread_text(self, path: str, value: object) -> bool:
        """Report (and return True) when text is expected at ``path`` and YAML read something else than what was
        written: an unquoted word, number or ``~`` that is not text, or that Helm's YAML 1.2 reads as a number."""
        text = self.written(path)
        if text is None:
            return False
        if isinstance(value, str):
            self.problem(
                path,
                f"{text} is unquoted, and YAML 1.2 parsers such as Helm's read it as a number; "
                f'quote it ("{text}") to mean the text',
            )
            return True
        if value is None or (isinstance(value, bool | int | float) and _canonical(value) != text):
            self.problem(
                path, f'{text} is read by YAML as {show(value)}, not as the text "{text}"; quote it ("{text}")'
            )
            return True
        return False

    # -- problems -------------------------------------------------------------------------------------------
    def problem(self, path: str, message: str) -> None:
        item = Problem(path, message)
        if item not in self.problems:
            self.problems.append(item)

    def bad_type(self, path: str, value: object, allowed: str) -> None:
        if "string" in allowed and (text := self.written(path)) is not None:
            self.problem(
                path,
                f"{text} is read by YAML as {show(value)} ({_type_name(value)}), not as text; "
                f'allowed: {allowed}, so quote it ("{text}")',
            )
            return
        hint = "; quote it" if "string" in allowed and isinstance(value, bool | int | float) else ""
        self.problem(path, f"{show(value)} is {_type_name(value)}; allowed: {allowed}{hint}")

    # -- raw access -----------------------------------------------------------------------------------------
    def raw(self, path: str) -> Any:
        """The value at ``path`` or ``_MISSING``; marks the path as read and reports non-mapping parents."""
        keys = tuple(path.split("."))
        self._read.add(keys)
        node: Any = self._tree
        for depth, key in enumerate(keys):
            if node is None:
                return _MISSING
            if not isinstance(node, Mapping):
                parent = ".".join(keys[:depth])
                self.bad_type(parent, node, "a mapping of keys")
                return _MISSING
            if key not in node:
                return _MISSING
            node = node[key]
        return node

    def present(self, path: str) -> bool:
        return self.raw(path) is not _MISSING and self.raw(path) is not None

    # -- typed reads ----------------------------------------------------------------------------------------
    def _typed(self, path: str, default: T, check: Callable[[Any], bool], allowed: str) -> T:
        value = self.raw(path)
        if value is _MISSING or value is None:
            return default
        if not check(value):
            self.bad_type(path, value, allowed)
            return default
        return value  # type: ignore[no-any-return]

    def boolean(self, path: str, default: T) -> bool | T:
        return self._typed(path, default, lambda v: isinstance(v, bool), "true or false")

    def integer(self, path: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
        raw, text = self.raw(path), self.written(path)
        if text is not None and isinstance(raw, int) and not isinstance(raw, bool) and str(raw) != text:
            self.problem(path, f"{text} is read by YAML as {raw} (a leading 0 means octal); write it in plain decimal")
            return default
        value = self._typed(path, default, lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer")
        top = "" if maximum is None else f" and at most {maximum}"
        if value < minimum or (maximum is not None and value > maximum):
            self.problem(path, f"{show(value)} is out of range; allowed: an integer at least {minimum}{top}")
            return default
        return value

    def string(self, path: str, default: T) -> str | T:
        value = self.raw(path)
        if ((value is None and self.written(path) == "~") or isinstance(value, str)) and self.misread_text(path, value):
            return default
        return self._typed(path, default, lambda v: isinstance(v, str) and v.strip() != "", "a non-empty string")

    def items(self, path: str) -> list[tuple[str, Any]]:
        """A list as (item path, item) pairs; anything else but null is reported."""
        value = self.raw(path)
        if value is _MISSING or value is None:
            return []
        if not isinstance(value, list):
            self.bad_type(path, value, "a list")
            return []
        return [(f"{path}[{index}]", item) for index, item in enumerate(value)]

    def string_map(self, path: str) -> dict[str, str]:
        """A mapping of string keys to scalar values (labels), values turned into strings as Kubernetes needs."""
        value = self.raw(path)
        if value is _MISSING or value is None:
            return {}
        if not isinstance(value, Mapping):
            self.bad_type(path, value, "a mapping of names to values")
            return {}
        result: dict[str, str] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                self.problem(f"{path}.{show(key)}", "the key is not a string; quote it (YAML reads on/yes/1 as values)")
            elif self.misread_text(f"{path}.{key}", item):
                continue
            elif isinstance(item, bool | str | int | float):
                result[str(key)] = _canonical(item)
            else:
                self.bad_type(f"{path}.{key}", item, "a string")
        return result

    # -- what nobody read -----------------------------------------------------------------------------------
    def unread(self, prefix: str | None = None) -> list[str]:
        """Paths present in the tree that no read touched, each reported at its highest unread level."""
        touched: set[tuple[str, ...]] = set()
        for keys in self._read:
            touched.update(keys[:depth] for depth in range(1, len(keys) + 1))
        found: list[str] = []

        def walk(node: Any, keys: tuple[str, ...]) -> None:
            if not isinstance(node, Mapping):
                return
            for key in node:
                child = (*keys, str(key))
                if child in self._read:
                    continue
                if child in touched:
                    walk(node[key], child)
                else:
                    found.append(".".join(child))

        start: Any = self._tree
        base: tuple[str, ...] = ()
        if prefix is not None:
            start = self._tree.get(prefix)
            base = (prefix,)
            if (prefix,) in self._read:
                return []
        walk(start, base)
        return sorted(found)

    def known_children(self, path: str) -> list[str]:
        """Keys under ``path`` that some read used: the allowed names for a typo message."""
        keys = tuple(path.split("."))
        return sorted({read[len(keys)] for read in self._read if len(read) > len(keys) and read[: len(keys)] == keys})

    def report_unknown(self, prefix: str) -> None:
        """Unknown keys under airpool's own section are typos: report them with the keys that are allowed."""
        for path in self.unread(prefix):
            parent, _, key = path.rpartition(".")
            allowed = self.known_children(parent)
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.problem(path, f"unknown key{hint}; allowed under {parent}: {', '.join(allowed)}")
