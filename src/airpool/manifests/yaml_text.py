"""Block-style YAML for Kubernetes objects, fast enough for pools of thousands of namespaces.

PyYAML spends almost all of ``config render``'s time in its Python representer (1.3 s for a 1,000-namespace pool,
even with libyaml's emitter). Manifests hold only mappings, lists, strings, booleans, integers and null, so a small
emitter covers them; each distinct string's form (plain or quoted) is decided once with PyYAML's own resolver
and cached, so the output reads back to exactly the same data. Tests compare it with ``yaml.safe_load_all``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from typing import Any

import yaml

_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]*$")
_STR_TAG = "tag:yaml.org,2002:str"
#: Booleans to YAML 1.1 parsers such as Go's yaml.v2 (kubectl) though PyYAML reads them as strings.
_GO_BOOLEANS = frozenset({"y", "Y", "n", "N"})
_resolver = yaml.resolver.Resolver()
#: Characters YAML refuses raw or folds as line breaks inside quotes; JSON already escapes those below 0x20.
_UNPRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")


@functools.lru_cache(maxsize=65536)
def _string(value: str) -> str:
    """Plain when every YAML reader takes it back as the same string, else JSON's double quotes (valid YAML)."""
    if (
        _PLAIN.fullmatch(value)
        and value not in _GO_BOOLEANS
        and _resolver.resolve(yaml.ScalarNode, value, (True, False)) == _STR_TAG  # type: ignore[no-untyped-call]
    ):
        return value
    return _UNPRINTABLE.sub(lambda match: f"\\u{ord(match.group()):04x}", json.dumps(value, ensure_ascii=False))


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return _string(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _lines(value: Any, indent: str, out: list[str]) -> None:
    """Append the block lines of a non-empty dict or list at ``indent`` (concrete types: ABC checks cost 30%)."""
    if isinstance(value, dict):
        for key, item in value.items():
            _entry(f"{indent}{_string(str(key))}:", item, indent, out, nested="  ")
    else:
        for item in value:
            if isinstance(item, dict) and item:
                first = True
                for key, sub in item.items():
                    prefix = f"{indent}- " if first else f"{indent}  "
                    _entry(f"{prefix}{_string(str(key))}:", sub, indent + "  ", out, nested="  ")
                    first = False
            else:
                _entry(f"{indent}-", item, indent, out, nested="  ")


def _entry(head: str, value: Any, indent: str, out: list[str], *, nested: str) -> None:
    if isinstance(value, dict | list | tuple) and value:
        out.append(head)
        # Lists under a key sit at the key's indent (kubectl's style); mappings are indented.
        _lines(value, indent if isinstance(value, list | tuple) and not head.endswith("-") else indent + nested, out)
    elif isinstance(value, dict):
        out.append(f"{head} {{}}")
    elif isinstance(value, list | tuple):
        out.append(f"{head} []")
    else:
        out.append(f"{head} {_scalar(value)}")


def dump_all(objects: Iterable[dict[str, Any]]) -> str:
    """Documents each opened by ``---``, keys in the order built, ending with a newline."""
    out: list[str] = []
    for obj in objects:
        if obj:
            out.append("---")
            _lines(obj, "", out)
        else:
            out.append("--- {}")
    return "\n".join(out) + "\n" if out else ""
