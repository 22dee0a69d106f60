"""How the CLI's waiting commands pace their looks at the server: quick at first, because most operations end
within seconds (a hard delete on an idle cluster in about one, a create on simulated nodes in two or three), then
backing off to a ceiling, so a long wait (a real Airflow start takes minutes) costs the server little."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator


def pauses(
    *, first: float, quick_for: float, most: float, clock: Callable[[], float] = time.monotonic
) -> Iterator[float]:
    """Seconds to sleep before each next look: ``first`` (at most ``most``) until ``quick_for`` seconds have
    passed since the first pause was asked for, then half as long again each time, up to ``most``."""
    start = clock()
    pause = min(first, most)
    while True:
        yield pause
        if clock() - start >= quick_for:
            pause = min(pause * 1.5, most)
