"""The request path's cheap parts: which operations skip the worker-thread hop, and the transaction watchdog, which
wakes its thread only for a deadline before its next look but still shuts a connection at its deadline."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any, cast

import graphql
import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from airpool.api import graphql_http, schema
from airpool.api.context import AppState
from airpool.api.graphql_http import INLINE_TEXTS, GraphQLEndpoint
from airpool.store import engine
from tests.support.aio import run


@pytest.fixture(scope="module")
def endpoint() -> Iterator[GraphQLEndpoint]:
    made = GraphQLEndpoint(
        schema=schema.executable_schema(),
        state=cast(AppState, None),  # preparing a document never reads the state
        non_blocking=schema.NON_BLOCKING,
    )
    yield made
    made.close()


@pytest.mark.parametrize(
    ("query", "inline"),
    [
        ("query AppConfig { appConfig { version baseDomain } }", True),  # the astro CLI's first request
        ("{ appConfig { version } __typename }", True),
        ("{ appConfig { version } workspaces { id } }", False),  # one root field reads the database
        ("{ workspaces { id } }", False),
        ("query { ...F } fragment F on Query { appConfig { version } }", False),  # only plain root fields
        ('mutation { createToken(identity: "a", password: "b") { token { value } } }', False),
        ("{ nope }", False),  # refused by validation: never executed at all
    ],
)
def test_only_operations_of_configuration_fields_run_on_the_event_loop(
    endpoint: GraphQLEndpoint, query: str, inline: bool
) -> None:
    endpoint._prepare(query)
    # Remembered for the event loop only once prepared (in a worker thread): the loop never parses a new text.
    assert (query in endpoint._inline_texts) is inline


def test_the_texts_remembered_as_inline_stay_bounded(endpoint: GraphQLEndpoint) -> None:
    for i in range(200):
        endpoint._prepare("{ appConfig { version } }" + " " * i)
    assert 0 < len(endpoint._inline_texts) <= INLINE_TEXTS


def test_an_inline_text_dropped_from_the_parse_cache_is_not_parsed_on_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The endpoint keeps an inline text's document itself: a client sending 512 other texts (they push it out of the
    bounded parse cache) does not make the event loop parse the next request of it."""
    parsed_on: list[str] = []

    def counted_parse(source: str, **options: Any) -> graphql.DocumentNode:
        parsed_on.append(threading.current_thread().name)
        return graphql.parse(source, **options)

    monkeypatch.setattr(graphql_http, "parse", counted_parse)  # graphql-core's own parse, each call's thread noted
    endpoint = GraphQLEndpoint(
        schema=schema.executable_schema(),
        state=cast(AppState, None),  # __typename reads no state
        non_blocking=schema.NON_BLOCKING,
    )
    inline = "query Probe { __typename }"
    others = [f"{{ notAField{i} }}" for i in range(512)]  # refused by validation, but kept in the parse cache

    async def scenario() -> tuple[list[Any], str]:
        app = Starlette(routes=[Route("/v1", endpoint.handle, methods=["POST"])])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://airpool") as client:

            async def post(query: str, variables: dict[str, Any] | None = None) -> Any:
                return (await client.post("/v1", json={"query": query, "variables": variables})).json()

            # Each request of the text has another body (a variable the operation ignores), so none is answered
            # from the endpoint's remembered answers: each goes through the inline path.
            answers = [await post(inline)]  # prepared in a worker thread, then remembered as inline
            answers.append(await post(inline, {"round": 2}))  # answered on the event loop
            for other in others:
                assert "errors" in await post(other)
            cached = endpoint._prepared.cache_info()
            # 513 texts prepared, 512 kept: the least recently used, the inline text, has left the parse cache.
            assert (cached.misses, cached.currsize, cached.maxsize) == (513, 512, 512), cached
            answers.append(await post(inline, {"round": 3}))  # no longer in the parse cache: not parsed on the loop
        return answers, threading.current_thread().name

    try:
        answers, loop_thread = run(scenario())  # in a thread of its own: a UI test may hold the main one's loop
    finally:
        endpoint.close()
    assert answers == [{"data": {"__typename": "Query"}}] * 3
    assert len(parsed_on) == 1 + len(others)  # each text parsed once, ...
    assert loop_thread not in parsed_on  # ... every one in a worker thread
    assert all(name.startswith("airpool-graphql") for name in parsed_on)


def test_the_watchdog_shuts_a_connection_at_a_deadline_shorter_than_its_look_interval() -> None:
    watchdog = engine._Watchdog()
    watchdog.LOOK_EVERY_S = 60  # a look of its own would come long after the bound below
    ours, theirs = socket.socketpair()
    with ours, theirs:
        long = watchdog.watch(ours.fileno(), 600)  # starts the thread, which then sleeps up to LOOK_EVERY_S
        time.sleep(0.2)
        started = time.monotonic()
        short = watchdog.watch(ours.fileno(), 0.3)
        theirs.settimeout(40)
        assert theirs.recv(1) == b""  # shut: the peer reads end-of-stream
        took = time.monotonic() - started
        assert 0.25 <= took < 20, took  # at the deadline, not at the next look (generous for a loaded machine)
        assert watchdog.release(short) is True
        assert watchdog.release(long) is False


def test_the_watchdog_leaves_a_connection_alone_before_its_deadline() -> None:
    watchdog = engine._Watchdog()
    ours, theirs = socket.socketpair()
    with ours, theirs:
        token = watchdog.watch(ours.fileno(), 600)
        time.sleep(watchdog.LOOK_EVERY_S * 2.5)  # the thread has looked at least twice
        ours.sendall(b"x")
        assert theirs.recv(1) == b"x"
        assert watchdog.release(token) is False


def test_an_inline_answer_is_remembered_by_request_body_and_a_refusal_is_not(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same body of an inline operation is answered again without GraphQL (a new request id each time); another
    body (other variables, another text) is executed; an answer with errors is never remembered."""
    endpoint = GraphQLEndpoint(
        schema=schema.executable_schema(),
        state=cast(AppState, None),  # __typename reads no state
        non_blocking=schema.NON_BLOCKING,
    )
    executed: list[Any] = []
    execute = endpoint._execute

    def counted(data: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        executed.append(data)
        return execute(data, *args, **kwargs)

    monkeypatch.setattr(endpoint, "_execute", counted)
    probe = {"query": "query Probe { __typename }"}
    other = {"query": "query Probe { __typename }", "variables": {"unused": 1}}
    refused = {"query": "query Probe { __typename }", "variables": {"bad": "a\u0000b"}}  # NUL: refused

    async def scenario() -> list[httpx.Response]:
        app = Starlette(routes=[Route("/v1", endpoint.handle, methods=["POST"])])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://airpool") as client:
            return [await client.post("/v1", json=body) for body in [probe] * 4 + [other] * 2 + [refused] * 3]

    try:
        answers = run(scenario())
    finally:
        endpoint.close()
    bodies = [answer.json() for answer in answers]
    assert bodies[:6] == [{"data": {"__typename": "Query"}}] * 6
    assert all(answer.headers["content-type"] == "application/json" for answer in answers)
    assert [e["extensions"]["code"] for body in bodies[6:] for e in body["errors"]] == ["BAD_USER_INPUT"] * 3
    assert len({answer.headers["x-request-id"] for answer in answers}) == len(answers)
    # probe: prepared in a thread, then executed once on the loop (and remembered), then answered from memory;
    # other: a new body, executed once; refused: executed every time.
    assert executed == [probe, probe, other, refused, refused, refused]
