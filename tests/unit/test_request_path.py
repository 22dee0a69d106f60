"""The request path's cheap parts: which operations skip the worker-thread hop, and the transaction watchdog, which
wakes its thread only for a deadline before its next look but still shuts a connection at its deadline."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import cast

import pytest

from airpool.api import schema
from airpool.api.context import AppState
from airpool.api.graphql_http import INLINE_TEXTS, GraphQLEndpoint
from airpool.store import engine


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
