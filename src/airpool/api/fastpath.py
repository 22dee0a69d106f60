"""A shortcut for root queries that return long lists of flat objects, e.g. ``availableNamespaces { name }``.

graphql-core completes every field of every list item on its own (about 12 microseconds each), so a pool of
10,000 namespaces costs well over 100 ms of pure bookkeeping per request. When a *validated* document is nothing
but one such field -- no alias, argument, directive or fragment, only plain leaf fields below it -- the result is
built directly from the same loader the resolver uses. Anything else takes the normal path, and errors still go
through ``errors.format_error``, so both paths answer identically.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import DocumentNode, FieldNode, GraphQLError, OperationDefinitionNode, OperationType

from airpool.api import errors
from airpool.api.context import RequestContext


@dataclass(frozen=True)
class LeafList:
    """A root query field whose value is a list of dicts holding only leaf values (strings, numbers, booleans)."""

    fields: frozenset[str]
    load: Callable[[RequestContext], list[dict[str, Any]]]


@dataclass(frozen=True)
class Plan:
    root: str
    selected: tuple[str, ...]
    node: FieldNode
    shortcut: LeafList

    def run(self, context: RequestContext) -> dict[str, Any]:
        try:
            items = self.shortcut.load(context)
        except Exception as exc:
            error = GraphQLError(str(exc), nodes=[self.node], path=[self.root], original_error=exc)
            return {"data": None, "errors": [errors.format_error(error)]}
        return {"data": {self.root: [{name: item[name] for name in self.selected} for item in items]}}


def _plain(node: Any) -> bool:
    return isinstance(node, FieldNode) and node.alias is None and not node.arguments and not node.directives


def sole_query(document: DocumentNode) -> OperationDefinitionNode | None:
    """The document's operation when it is one query and nothing else (no fragment definitions), else None."""
    if len(document.definitions) != 1:
        return None
    operation = document.definitions[0]
    if not isinstance(operation, OperationDefinitionNode) or operation.operation is not OperationType.QUERY:
        return None
    return operation


def plan(document: DocumentNode, shortcuts: dict[str, LeafList]) -> Plan | None:
    """The shortcut for ``document``, or None when it must run through graphql-core."""
    operation = sole_query(document)
    if operation is None:
        return None
    if operation.variable_definitions or operation.directives or len(operation.selection_set.selections) != 1:
        return None
    root = operation.selection_set.selections[0]
    if not _plain(root) or not isinstance(root, FieldNode) or root.selection_set is None:
        return None
    shortcut = shortcuts.get(root.name.value)
    if shortcut is None:
        return None
    leaves = root.selection_set.selections
    if not all(_plain(leaf) and isinstance(leaf, FieldNode) and leaf.selection_set is None for leaf in leaves):
        return None
    selected = tuple(leaf.name.value for leaf in leaves if isinstance(leaf, FieldNode))
    if not set(selected) <= shortcut.fields:
        return None
    return Plan(root=root.name.value, selected=selected, node=root, shortcut=shortcut)
