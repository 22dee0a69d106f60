"""GraphQL over HTTP at ``/v1``, the way Houston answers the astro CLI.

Every answer is HTTP 200 with a JSON body holding ``data`` and/or ``errors`` -- also for a body that is not JSON or
a query that does not parse -- because the CLI prints ``errors[0].message`` and nothing else.

The services are synchronous (SQLAlchemy), so a whole operation runs in a worker thread with ``graphql_sync``:
one thread hop per request, plain functions as resolvers, and the event loop stays free for other requests. The
hop goes through a ``concurrent.futures`` pool of this endpoint's own (about 35 microseconds of CPU, against about
80 for ``anyio.to_thread``). An operation whose root fields all read only the process's configuration
(``schema.NON_BLOCKING``: ``appConfig``, the astro CLI's first request of every command) runs on the event loop
once its text has been prepared in a thread: nothing in it can block, so the hop would cost more than the work.
The endpoint keeps such a text's prepared document itself (not only in the parse cache, which may have dropped it
since), so the event loop never parses or validates.
Its answer depends on the request body alone, so the same body is answered again from memory (bounded, like the
texts): ``appConfig`` then costs about what a bare JSON endpoint does (measured 3 times cheaper than executed).

Clients send the same few query texts again and again (the CLI's are constants), so parsing and validation are
done once per distinct text and remembered (``prepared_cache``: bounded by count and by the texts' total length;
only texts up to ``CACHED_QUERY_CHARS``). A validated
document that is one long list of flat objects goes through ``fastpath`` instead of graphql-core's executor.

Every request is bounded before it costs anything: the body is read as it streams in and refused once it passes
``MAX_BODY_BYTES`` (a declared ``Content-Length`` above it is refused unread), the query text has at most
``limits.MAX_TOKENS`` tokens, and ``limits`` refuses documents that are nested too deep or would cost too much.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ariadne import graphql_sync
from graphql import DocumentNode, FieldNode, GraphQLError, GraphQLSchema, parse, validate
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from airpool.api import errors, fastpath, limits
from airpool.api.context import AppState, RequestContext
from airpool.api.prepared_cache import PreparedCache
from airpool.domain.errors import InvalidInput

#: Ariadne logs every error with a traceback; ``errors.format_error`` already logs what deserves it. A logger made
#: outside the logging manager, so no logging configuration (uvicorn's dictConfig) re-enables it.
_quiet = logging.Logger("airpool.api.ariadne", level=logging.CRITICAL + 10)

#: A body larger than this is not an operation of ours.
MAX_BODY_BYTES = 1_000_000
#: Longer query texts are parsed every time rather than kept in the cache.
CACHED_QUERY_CHARS = 20_000
#: Operations run at once in worker threads (as many as ``anyio.to_thread``'s default); more wait their turn.
THREADS = 40
#: Query texts remembered, with their prepared documents, as runnable on the event loop (cleared when full).
INLINE_TEXTS = 64
#: Longer texts are not remembered as inline (the astro CLI's appConfig is about 600 characters): 64 documents of
#: this size take about 16 MB.
INLINE_QUERY_CHARS = 4_000


@dataclass(frozen=True)
class Prepared:
    """A query text, parsed and validated once: the document, or the formatted errors that refuse it."""

    document: DocumentNode | None
    refusal: tuple[dict[str, Any], ...] = ()
    shortcut: fastpath.Plan | None = None


def _error_response(message: str, rid: str, *, code: str = errors.VALIDATION_CODE) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, headers={"x-request-id": rid})


class GraphQLEndpoint:
    """The ASGI endpoint for ``/v1``; holds the executable schema and what resolvers need."""

    def __init__(
        self,
        *,
        schema: GraphQLSchema,
        state: AppState,
        shortcuts: dict[str, fastpath.LeafList] | None = None,
        non_blocking: frozenset[str] = frozenset(),
        debug: bool = False,
    ) -> None:
        self.schema = schema
        self.state = state
        self.shortcuts = shortcuts or {}
        self.non_blocking = non_blocking
        self.debug = debug
        self._prepared = PreparedCache(self._prepare)
        self._threads = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="airpool-graphql")
        #: Query texts prepared (in a worker thread) and found to run inline, with what was prepared: read on the
        #: event loop, which so never parses (the parse cache above may have dropped the text since).
        self._inline_texts: dict[str, Prepared] = {}
        #: The answers of inline operations by request body (query, variables and operation name): they depend on
        #: nothing else, the configuration being fixed for the process's life (``schema.NON_BLOCKING``). Refusals
        #: are not kept.
        self._answers: dict[bytes, bytes] = {}

    async def handle(self, request: Request) -> Response:
        rid = errors.new_request_id()
        if request.method != "POST":
            return _error_response("send GraphQL operations as POST with a JSON body {query, variables}", rid)
        try:
            body = await limits.read_body(request, MAX_BODY_BYTES)
        except limits.BodyTooLarge:
            response = _error_response(
                f"request body is larger than {MAX_BODY_BYTES} bytes; send one operation of at most that size",
                rid,
                code=limits.TOO_LARGE_CODE,
            )
            response.headers["connection"] = "close"  # the rest of the body is not read
            return response
        answer = self._answers.get(body)
        if answer is not None:  # the same operation answered before: its answer again, without GraphQL
            return Response(answer, media_type="application/json", headers={"x-request-id": rid})
        try:
            data = json.loads(body)
        except ValueError:
            return _error_response('request body is not JSON; expected {"query": ..., "variables": {...}}', rid)
        context = RequestContext(
            state=self.state,
            headers=dict(request.headers),
            request_id=rid,
            client=request.client.host if request.client else None,
            base_url=str(request.base_url),
        )
        inline = self._inline_prepared(data)
        if inline is None:
            run = functools.partial(contextvars.copy_context().run, self._execute, data, context)
            result = await asyncio.get_running_loop().run_in_executor(self._threads, run)
            return JSONResponse(result, headers={"x-request-id": rid})
        result = self._execute(data, context, inline)
        response = JSONResponse(result, headers={"x-request-id": rid})
        if "errors" not in result and len(body) <= CACHED_QUERY_CHARS:
            if len(self._answers) >= INLINE_TEXTS:
                self._answers.clear()  # bounded, as the inline texts
            self._answers[body] = bytes(response.body)
        return response

    def _inline_prepared(self, data: Any) -> Prepared | None:
        """What was prepared for a text already prepared in a worker thread and found inline, else None: parsing and
        validating a text is CPU work that must not hold the event loop (a client sending ever new texts would
        stall every request)."""
        query = data.get("query") if isinstance(data, dict) else None
        return self._inline_texts.get(query) if isinstance(query, str) else None

    def close(self) -> None:
        """Stop the worker threads once their operations are done (the app's shutdown)."""
        self._threads.shutdown(wait=True)

    def _prepare(self, query: str) -> Prepared:
        try:
            document = parse(query, max_tokens=limits.MAX_TOKENS)
        except GraphQLError as error:
            return Prepared(document=None, refusal=(errors.format_error(error),))
        problems = validate(self.schema, document)
        if problems:
            return Prepared(document=None, refusal=tuple(errors.format_error(p) for p in problems))
        refused = limits.check_document(self.schema, document)
        if refused is not None:
            return Prepared(document=None, refusal=(errors.format_error(refused),))
        prepared = Prepared(document=document, shortcut=fastpath.plan(document, self.shortcuts))
        if len(query) <= INLINE_QUERY_CHARS and _only_fields(document, self.non_blocking):
            if len(self._inline_texts) >= INLINE_TEXTS:
                self._inline_texts.clear()  # bounded: a client cannot grow it with endless variants
            self._inline_texts[query] = prepared
        return prepared

    def _execute(self, data: Any, context: RequestContext, prepared: Prepared | None = None) -> dict[str, Any]:
        """``prepared``: what the event loop holds for an inline text; otherwise (in a worker thread) the text is
        prepared here, or taken from the parse cache."""
        token = errors.request_id.set(context.request_id)
        try:
            query = data.get("query") if isinstance(data, dict) else None
            if not isinstance(query, str) or not query:
                return self._run(data, context, None)  # graphql_sync reports what is wrong with it
            if prepared is None:
                prepared = self._prepared(query) if len(query) <= CACHED_QUERY_CHARS else self._prepare(query)
            if prepared.document is None:
                return {"errors": list(prepared.refusal)}
            try:
                limits.check_variables(data.get("variables"))
            except InvalidInput as exc:
                return {"errors": [errors.airpool_error_payload(exc)]}
            if (
                prepared.shortcut is not None
                and not data.get("operationName")
                and isinstance(data.get("variables") or {}, dict)
            ):
                return prepared.shortcut.run(context)
            return self._run(data, context, prepared.document)
        finally:
            errors.request_id.reset(token)

    def _run(self, data: Any, context: RequestContext, document: DocumentNode | None) -> dict[str, Any]:
        _, result = graphql_sync(
            self.schema,
            data,
            context_value=context,
            query_document=document,
            # A cached document was validated when it was prepared.
            query_validator=_already_validated if document is not None else None,
            error_formatter=errors.format_error,
            logger=_quiet,
            debug=self.debug,
        )
        return dict(result)


def _already_validated(*_: Any, **__: Any) -> list[GraphQLError]:
    return []


def _only_fields(document: DocumentNode, fields: frozenset[str]) -> bool:
    """True when ``document`` is one query whose root selections are plain fields (no fragment) all in ``fields``."""
    operation = fastpath.sole_query(document)
    if operation is None:
        return False
    roots = operation.selection_set.selections
    return all(isinstance(root, FieldNode) and root.name.value in fields | {"__typename"} for root in roots)
