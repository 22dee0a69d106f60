"""Running a coroutine from a synchronous test."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T], *, timeout: float = 600) -> T:
    """``asyncio.run`` in a thread of its own: Playwright's sync API (the session's browser) keeps an event loop
    running in the main thread from the first UI test on, and ``asyncio.run`` refuses to start beside it."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, coroutine).result(timeout=timeout)
