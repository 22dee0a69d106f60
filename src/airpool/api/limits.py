"""Bounds on what one GraphQL request may ask for, checked before anything runs.

A schema with cycles (``Workspace.roleBindings -> RoleBinding.workspace -> Workspace``) lets a short query ask for
an answer that grows exponentially with its nesting: eleven levels ran 38 s and returned 34 MB for a viewer. So
every document is measured once, when it is parsed (the result is cached with the document), and refused with
``GRAPHQL_VALIDATION_FAILED`` when it is

- nested deeper than ``MAX_DEPTH`` fields (the astro CLI's deepest query has 4); introspection (``__schema``,
  ``__type``) may go to ``MAX_INTROSPECTION_DEPTH``, which the standard introspection query needs;
- nesting more than ``MAX_LIST_NESTING`` list fields in one path (``workspaces { roleBindings }`` is two): each
  list level multiplies the answer by the size of a real table;
- estimated to cost more than ``MAX_COST``: every field counts once per item of every list above it, with
  ``LIST_FACTOR`` items assumed per list (aliases of one field count separately); introspection has its own
  budget, ``MAX_INTROSPECTION_COST``.

Request bodies (GraphQL operations, UI forms) are read as they stream in and refused once they pass their limit
(``read_body``); a declared ``Content-Length`` above it is refused without reading anything.

String arguments and variables must not hold U+0000: PostgreSQL cannot store it in text, and SQLite would. Both
databases get the same answer: ``BAD_USER_INPUT`` naming the argument or variable.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SchemaMetaFieldDef,
    SelectionSetNode,
    StringValueNode,
    TypeMetaFieldDef,
    ValueNode,
    get_named_type,
    is_interface_type,
    is_object_type,
)
from starlette.requests import Request

from airpool.domain.errors import InvalidInput

MAX_DEPTH = 10
MAX_INTROSPECTION_DEPTH = 16
MAX_LIST_NESTING = 2
MAX_INTROSPECTION_LIST_NESTING = 4
LIST_FACTOR = 10
MAX_COST = 10_000
#: Introspection's standard query costs about 51,000 by the same measure; the schema bounds its answer.
MAX_INTROSPECTION_COST = 100_000
#: Tokens of one query text: the CLI's longest query has a few hundred.
MAX_TOKENS = 10_000
NUL = "\x00"


#: The code of a request body over the limit.
TOO_LARGE_CODE = "REQUEST_TOO_LARGE"


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (``BodyTooLarge``) as soon as it is known to pass ``limit`` bytes: from its
    ``Content-Length`` before reading anything, or while it streams in (a chunked body has no length)."""
    declared = request.headers.get("content-length", "")
    if declared.strip().isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


class TooComplex(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def nul_problem(where: str) -> InvalidInput:
    return InvalidInput(f"{where} must not contain the character U+0000 (NUL); remove it")


def check_document(schema: GraphQLSchema, document: DocumentNode) -> GraphQLError | None:
    """The first reason to refuse a validated document, or None."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    try:
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                root = schema.get_root_type(definition.operation)
                if root is not None:
                    _Walk(fragments).selections(definition.selection_set, root, _Path())
        _check_literals(document)
    except TooComplex as exc:
        return GraphQLError(exc.message)
    except InvalidInput as exc:
        return GraphQLError(exc.message, original_error=exc)
    return None


def _check_literals(document: DocumentNode) -> None:
    for where, value in _literal_strings(document):
        if NUL in value:
            raise nul_problem(where)


def _literal_strings(document: DocumentNode) -> Iterator[tuple[str, str]]:
    def values(node: ValueNode, where: str) -> Iterator[tuple[str, str]]:
        if isinstance(node, StringValueNode):
            yield where, node.value
        elif isinstance(node, ListValueNode):
            for index, element in enumerate(node.values):
                yield from values(element, f"{where}[{index}]")
        elif isinstance(node, ObjectValueNode):
            for member in node.fields:
                yield from values(member.value, f"{where}.{member.name.value}")

    def selections(selection_set: SelectionSetNode | None) -> Iterator[tuple[str, str]]:
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                for argument in selection.arguments or ():
                    yield from values(argument.value, f"argument {argument.name.value} of {selection.name.value}")
            if isinstance(selection, FieldNode | InlineFragmentNode):
                yield from selections(selection.selection_set)

    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode):
            yield from selections(definition.selection_set)


def check_variables(variables: Any) -> None:
    """Raise ``InvalidInput`` naming the variable when a string in it (or a key) holds U+0000."""
    if not isinstance(variables, dict):
        return
    for name, value in variables.items():
        for where, text in _strings(value, f"variable ${name}"):
            if NUL in text:
                raise nul_problem(where)
        if isinstance(name, str) and NUL in name:
            raise nul_problem("a variable name")


def _strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{where}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield f"a key in {where}", str(key)
            yield from _strings(item, f"{where}.{key}")


class _Path:
    """Where the walk is: field names, depth, list nesting, and the items multiplier of the lists above."""

    __slots__ = ("depth", "introspection", "lists", "multiplier", "names")

    def __init__(
        self,
        names: tuple[str, ...] = (),
        *,
        lists: int = 0,
        multiplier: int = 1,
        introspection: bool = False,
    ) -> None:
        self.names = names
        self.depth = len(names)
        self.lists = lists
        self.multiplier = multiplier
        self.introspection = introspection

    def shown(self) -> str:
        return ".".join(self.names)


class _Walk:
    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.cost = 0
        self.introspection_cost = 0

    def selections(self, selection_set: SelectionSetNode | None, parent: Any, path: _Path) -> None:
        if selection_set is None:
            return
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                self.field(selection, parent, path)
            elif isinstance(selection, InlineFragmentNode):
                self.selections(selection.selection_set, parent, path)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    self.selections(fragment.selection_set, parent, path)

    def field(self, node: FieldNode, parent: Any, path: _Path) -> None:
        name = node.name.value
        if name == "__typename":
            return
        fields = getattr(parent, "fields", None) if is_object_type(parent) or is_interface_type(parent) else None
        meta = {"__schema": SchemaMetaFieldDef, "__type": TypeMetaFieldDef}
        definition = meta.get(name) or (fields.get(name) if fields else None)
        if definition is None:  # a type condition the walk does not follow precisely: validation checked it
            return
        kind = definition.type
        if isinstance(kind, GraphQLNonNull):
            kind = kind.of_type
        is_list = isinstance(kind, GraphQLList)
        introspection = path.introspection or name.startswith("__")
        here = _Path(
            (*path.names, node.alias.value if node.alias else name),
            lists=path.lists + is_list,
            multiplier=path.multiplier * (LIST_FACTOR if is_list else 1),
            introspection=introspection,
        )
        max_depth = MAX_INTROSPECTION_DEPTH if introspection else MAX_DEPTH
        if here.depth > max_depth:
            raise TooComplex(
                f"the query nests fields {here.depth} levels deep ({here.shown()}); at most {max_depth} are allowed"
            )
        max_lists = MAX_INTROSPECTION_LIST_NESTING if introspection else MAX_LIST_NESTING
        if here.lists > max_lists:
            raise TooComplex(
                f"the query nests {here.lists} lists in one another ({here.shown()}); at most {max_lists} are "
                "allowed: ask for the inner lists in a separate query"
            )
        if introspection:
            self.introspection_cost += here.multiplier
        else:
            self.cost += here.multiplier
        budget, spent = (MAX_INTROSPECTION_COST, self.introspection_cost) if introspection else (MAX_COST, self.cost)
        if spent > budget:
            raise TooComplex(
                f"the query asks for too much at once (estimated cost over {budget}, reached at {here.shown()}); "
                "select fewer fields or split it into several queries"
            )
        self.selections(node.selection_set, get_named_type(definition.type), here)
