"""GraphQL subscriptions over WebSocket with the ``graphql-ws`` protocol (subscriptions-transport-ws), as Houston
serves them to the astro CLI at ``/ws`` (``astro deployment logs <component> <id> --follow``).

The conversation (client -> server, server -> client)::

    connection_init {payload: {authorization: <token>}}   -> connection_ack, then ka every KEEPALIVE_SECONDS
    start {id, payload: {query, variables}}                -> data {id, payload: {data}} ... complete {id}
                                                              (refused: data {id, payload: {data: null,
                                                              errors: [...]}}, complete {id})
    stop {id}                                              -> complete {id}
    connection_terminate                                   -> the socket closes

The astro CLI sends ``start`` without an ``id`` and does not wait for ``connection_ack``; such an operation gets
the id ``"1"`` (the one the CLI names when it stops). A token that cannot identify a caller gets
``connection_error`` and the close code 4401, which the CLI reports as "Your token has expired. Please log in
again." As in subscriptions-transport-ws (Houston's server), an operation refused before its first event answers
a ``data`` message carrying ``errors``; a malformed message or an error while streaming answers ``error`` whose
payload is an object with a ``message`` (the astro CLI decodes every payload as an object). The token may also
come in the upgrade request's ``authorization`` header. Only subscriptions are served
here; queries and mutations go to ``POST /v1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
from graphql import ExecutionResult, GraphQLError, GraphQLSchema, parse, subscribe, validate
from starlette.websockets import WebSocket, WebSocketDisconnect

from airpool.api import errors, limits
from airpool.api.context import AppState, RequestContext
from airpool.domain.errors import AirpoolError

log = logging.getLogger("airpool.api.ws")

PROTOCOL = "graphql-ws"
KEEPALIVE_SECONDS = 15.0
#: A client that has not sent connection_init by then is closed.
INIT_TIMEOUT = 30.0
MAX_OPERATIONS = 20
MAX_MESSAGE_BYTES = 100_000
CLOSE_UNAUTHORIZED = 4401
CLOSE_BAD_MESSAGE = 4400


class GraphQLWebSocket:
    def __init__(self, *, schema: GraphQLSchema, state: AppState) -> None:
        self.schema = schema
        self.state = state

    async def handle(self, websocket: WebSocket) -> None:
        offered = websocket.scope.get("subprotocols") or []
        await websocket.accept(subprotocol=PROTOCOL if PROTOCOL in offered else None)
        session = _Session(self, websocket)
        try:
            await session.run()
        except WebSocketDisconnect:
            pass
        finally:
            await session.cancel_all()


class _Session:
    def __init__(self, endpoint: GraphQLWebSocket, websocket: WebSocket) -> None:
        self.endpoint = endpoint
        self.websocket = websocket
        self.context: RequestContext | None = None
        self.operations: dict[str, asyncio.Task[None]] = {}
        self.send_lock = asyncio.Lock()
        self.keepalive: asyncio.Task[None] | None = None

    async def send(self, message: dict[str, Any]) -> None:
        async with self.send_lock:
            await self.websocket.send_text(json.dumps(message))

    async def run(self) -> None:
        header_token = self.websocket.headers.get("authorization")
        if header_token:
            await self._authenticate(header_token, ack=False)
        while True:
            timeout = INIT_TIMEOUT if self.context is None else None
            try:
                text = await asyncio.wait_for(self.websocket.receive_text(), timeout)
            except TimeoutError:
                await self.websocket.close(CLOSE_BAD_MESSAGE, "connection_init not received")
                return
            message = self._decode(text)
            if message is None:
                await self.websocket.close(CLOSE_BAD_MESSAGE, "messages must be JSON objects with a type")
                return
            kind = message.get("type")
            if kind == "connection_init":
                raw = message.get("payload")
                token = (_token(raw) if isinstance(raw, dict) else None) or header_token
                if not await self._authenticate(token, ack=True):
                    return
            elif kind == "start":
                await self._start(str(message.get("id") or "1"), message.get("payload"))
            elif kind == "stop":
                await self._stop(str(message.get("id") or "1"))
            elif kind == "connection_terminate":
                await self.websocket.close()
                return
            else:
                await self.send({"type": "error", "payload": {"message": f"unknown message type {kind!r}"}})

    @staticmethod
    def _decode(text: str) -> dict[str, Any] | None:
        if len(text) > MAX_MESSAGE_BYTES:
            return None
        try:
            message = json.loads(text)
        except ValueError:
            return None
        return message if isinstance(message, dict) and isinstance(message.get("type"), str) else None

    async def _authenticate(self, token: str | None, *, ack: bool) -> bool:
        context = RequestContext(
            state=self.endpoint.state,
            headers={"authorization": token or ""},
            request_id=errors.new_request_id(),
            client=self.websocket.client.host if self.websocket.client else None,
        )
        try:
            await anyio.to_thread.run_sync(context.caller)
        except AirpoolError as exc:
            payload = errors.airpool_error_payload(exc)
            await self.send({"type": "connection_error", "payload": payload})
            await self.websocket.close(CLOSE_UNAUTHORIZED, payload["message"][:120])
            return False
        self.context = context
        if ack:
            await self.send({"type": "connection_ack"})
            if self.keepalive is None:
                self.keepalive = asyncio.create_task(self._keepalive())
        return True

    async def _keepalive(self) -> None:
        with contextlib.suppress(Exception):
            while True:
                await self.send({"type": "ka"})
                await asyncio.sleep(KEEPALIVE_SECONDS)

    async def _start(self, op_id: str, payload: Any) -> None:
        if self.context is None:
            await self._error(op_id, "send connection_init with your token (payload.authorization) first")
            return
        if op_id in self.operations:
            await self._error(op_id, f"operation id {op_id!r} is already running; stop it first or use another id")
            return
        if len(self.operations) >= MAX_OPERATIONS:
            await self._error(op_id, f"at most {MAX_OPERATIONS} subscriptions per connection")
            return
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            await self._error(op_id, 'start needs payload {"query": ..., "variables": {...}}')
            return
        variables = payload.get("variables") or {}
        try:
            limits.check_variables(variables)
            document = parse(payload["query"], max_tokens=limits.MAX_TOKENS)
        except AirpoolError as exc:
            await self._error(op_id, exc.message)
            return
        except GraphQLError as exc:
            await self._refuse(op_id, [errors.format_error(exc)])
            return
        problems = validate(self.endpoint.schema, document)
        if problems:
            await self._refuse(op_id, [errors.format_error(p) for p in problems])
            return
        result = subscribe(
            self.endpoint.schema,
            document,
            context_value=self.context,
            variable_values=variables if isinstance(variables, dict) else None,
            operation_name=payload.get("operationName"),
        )
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, ExecutionResult):
            # Not a subscription, or refused before the first event (no access, bad component, ...).
            if result.errors:
                await self._refuse(op_id, [errors.format_error(e) for e in result.errors])
            else:
                await self._error(op_id, "only subscriptions are served here; send queries and mutations to POST /v1")
            return
        self.operations[op_id] = asyncio.create_task(self._forward(op_id, result))

    async def _forward(self, op_id: str, results: AsyncIterator[ExecutionResult]) -> None:
        try:
            async for result in results:
                payload: dict[str, Any] = {"data": result.data}
                if result.errors:
                    payload["errors"] = [errors.format_error(e) for e in result.errors]
                await self.send({"type": "data", "id": op_id, "payload": payload})
        except AirpoolError as exc:
            await self.send({"type": "error", "id": op_id, "payload": errors.airpool_error_payload(exc)})
        except asyncio.CancelledError:
            raise
        except Exception:
            rid = errors.new_request_id()
            log.exception("subscription %s failed (request %s)", op_id, rid)
            await self.send({"type": "error", "id": op_id, "payload": errors.internal_error_payload(rid)})
        finally:
            aclose = getattr(results, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        self.operations.pop(op_id, None)
        with contextlib.suppress(Exception):
            await self.send({"type": "complete", "id": op_id})

    async def _stop(self, op_id: str) -> None:
        task = self.operations.pop(op_id, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.send({"type": "complete", "id": op_id})

    async def _error(self, op_id: str, message: str) -> None:
        await self.send(
            {"type": "error", "id": op_id, "payload": {"message": message, "extensions": {"code": "BAD_REQUEST"}}}
        )

    async def _refuse(self, op_id: str, formatted: list[dict[str, Any]]) -> None:
        """An operation refused before its first event: a ``data`` message with the errors, then ``complete``."""
        await self.send({"type": "data", "id": op_id, "payload": {"data": None, "errors": formatted}})
        await self.send({"type": "complete", "id": op_id})

    async def cancel_all(self) -> None:
        tasks = [*self.operations.values(), *([self.keepalive] if self.keepalive else [])]
        self.operations.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _token(payload: dict[str, Any]) -> str | None:
    for key in ("authorization", "Authorization", "authToken", "token"):
        value = payload.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None
