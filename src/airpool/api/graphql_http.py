"""GraphQL over HTTP at ``/v1``, the way Houston answers the astro CLI.

Every answer is HTTP 200 with a JSON body holding ``data`` and/or ``errors`` -- also for a body that is not JSON or
a query that does not parse -- because the CLI prints ``errors[0].message`` and nothing else.

The services are synchronous (SQLAlchemy), so a whole operation runs in a worker thread with ``graphql_sync``:
one thread hop per request, plain functions as resolvers, and the event loop stays free for other requests.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio.to_thread
from ariadne import graphql_sync
from graphql import GraphQLSchema
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from airpool.api import errors
from airpool.api.context import AppState, RequestContext

#: Ariadne logs every error with a traceback; ``errors.format_error`` already logs what deserves it. A logger made
#: outside the logging manager, so no logging configuration (uvicorn's dictConfig) re-enables it.
_quiet = logging.Logger("airpool.api.ariadne", level=logging.CRITICAL + 10)

#: A body larger than this is not an operation of ours.
MAX_BODY_BYTES = 1_000_000


def _error_response(message: str, rid: str, *, code: str = errors.VALIDATION_CODE) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, headers={"x-request-id": rid})


class GraphQLEndpoint:
    """The ASGI endpoint for ``/v1``; holds the executable schema and what resolvers need."""

    def __init__(self, *, schema: GraphQLSchema, state: AppState, debug: bool = False) -> None:
        self.schema = schema
        self.state = state
        self.debug = debug

    async def handle(self, request: Request) -> Response:
        rid = errors.new_request_id()
        if request.method != "POST":
            return _error_response("send GraphQL operations as POST with a JSON body {query, variables}", rid)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _error_response(f"request body is larger than {MAX_BODY_BYTES} bytes", rid)
        try:
            data = json.loads(body)
        except ValueError:
            return _error_response('request body is not JSON; expected {"query": ..., "variables": {...}}', rid)
        context = RequestContext(state=self.state, headers=dict(request.headers), request_id=rid)
        result = await anyio.to_thread.run_sync(self._execute, data, context)
        return JSONResponse(result, headers={"x-request-id": rid})

    def _execute(self, data: Any, context: RequestContext) -> dict[str, Any]:
        token = errors.request_id.set(context.request_id)
        try:
            _, result = graphql_sync(
                self.schema,
                data,
                context_value=context,
                error_formatter=errors.format_error,
                logger=_quiet,
                debug=self.debug,
            )
        finally:
            errors.request_id.reset(token)
        return dict(result)
