"""A commander log stream (blocking, ``services.logs.LogStream``) as an async iterator for the event loop.

Used by the ``log`` subscription (``resolvers.logs``) and the UI's live tail (Server-Sent Events). The stream runs in
a thread of its own and hands each item to the loop; closing the iterator (the client went away) closes the stream,
which also ends the thread. ``recheck`` runs in a worker thread every ``RECHECK_SECONDS`` while lines or keep-alives
arrive and raises when the caller may no longer read them (token revoked, role removed).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio.to_thread

from airpool.domain.logs import LogLine
from airpool.services import logs
from airpool.services.platform import Platform

RECHECK_SECONDS = 60.0
_END = object()


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
        stream.close()
