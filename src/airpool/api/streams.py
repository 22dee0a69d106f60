"""A commander log stream (blocking, ``services.logs.LogStream``) as an async iterator for the event loop.

Used by the ``log`` subscription (``resolvers.logs``) and the UI's live tail (Server-Sent Events). The stream runs in
a thread of its own and hands each item to the loop; closing the iterator (the client went away) closes the stream,
which also ends the thread. ``recheck`` runs in a worker thread every ``RECHECK_SECONDS`` while lines or keep-alives
arrive and raises when the caller may no longer read them (token revoked, role removed).

A followed stream never ends by itself, and uvicorn's graceful shutdown waits for open responses (30 s) before it
cuts them off mid-chunk. So while the server runs, SIGTERM and SIGINT first end every stream this process follows
(``ended_on_stop_signals``): a live tail's response finishes cleanly at once and ``airpool serve`` stops promptly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from types import FrameType
from typing import Any

import anyio.to_thread

from airpool.domain.logs import LogLine
from airpool.services import logs
from airpool.services.platform import Platform

RECHECK_SECONDS = 60.0
_END = object()
#: The streams this process follows now: each one's loop and the function that queues an item for it.
_following: set[tuple[asyncio.AbstractEventLoop, Callable[[Any], None]]] = set()
_following_lock = threading.Lock()
#: Set once a stop signal came: a stream followed after that ends at once too.
_stopping = threading.Event()
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def end_all() -> None:
    """End every stream followed in this process: each iterator returns as if the stream had ended. Safe from a
    signal handler and from any thread."""
    with _following_lock:
        targets = list(_following)
    for loop, put in targets:
        with contextlib.suppress(RuntimeError):  # that loop has closed already
            loop.call_soon_threadsafe(put, _END)


@contextlib.contextmanager
def ended_on_stop_signals() -> Iterator[None]:
    """While open, SIGTERM and SIGINT call ``end_all`` and then whatever handled them before (uvicorn's shutdown).

    Only the main thread may set signal handlers, so elsewhere (an app served from a test's thread) this does
    nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        _stopping.set()
        end_all()
        before = previous.get(signum)
        if callable(before):
            before(signum, frame)
        elif before == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    for stop in _STOP_SIGNALS:
        previous[stop] = signal.signal(stop, handler)
    try:
        yield
    finally:
        _stopping.clear()
        for signum, before in previous.items():
            if signal.getsignal(signum) is handler:
                signal.signal(signum, before)


async def follow(
    platform: Platform, query: logs.LogQuery, *, recheck: Callable[[], object]
) -> AsyncIterator[LogLine | None]:
    """New lines, and ``None`` for each keep-alive from commander (at least every ``logs.KEEPALIVE_SECONDS``)."""
    loop = asyncio.get_running_loop()
    items: asyncio.Queue[Any] = asyncio.Queue(maxsize=10_000)
    stream = logs.follow(platform, query)

    def put(item: Any) -> None:
        if not items.full() or item is _END or isinstance(item, Exception):
            items.put_nowait(item)

    def pump() -> None:
        try:
            for line in stream:
                loop.call_soon_threadsafe(put, line)
        except Exception as exc:  # handed to the event loop and raised there
            loop.call_soon_threadsafe(put, exc)
        finally:
            loop.call_soon_threadsafe(put, _END)

    threading.Thread(target=pump, name="log-stream", daemon=True).start()
    following = (loop, put)
    with _following_lock:
        _following.add(following)
        if _stopping.is_set():  # the server is stopping: end this one too, like those end_all reached
            put(_END)
    checked_at = time.monotonic()
    try:
        while True:
            item = await items.get()
            if item is _END:
                return
            if isinstance(item, Exception):
                raise item
            if time.monotonic() - checked_at > RECHECK_SECONDS:
                await anyio.to_thread.run_sync(recheck)
                checked_at = time.monotonic()
            yield item
    finally:
        with _following_lock:
            _following.discard(following)
        stream.close()
