"""Make lightkube's response decoding safe to use from many threads at once.

lightkube decodes responses with msgspec, which builds each model's decoding tables on first use. Two threads
doing that first use for the same model at the same moment crashed the interpreter (SIGSEGV inside
``decoders.decode_object``) in our concurrent applies. Decoding an empty body once per class, in one thread and
before any pool starts, builds the tables up front; it costs a few milliseconds once per process.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from typing import Any

from lightkube.core import decoders

_lock = threading.Lock()
_done: set[Any] = set()


def warm_up(resource_classes: Iterable[Any]) -> None:
    """Build the decoding tables of every class not warmed yet (objects and lists)."""
    with _lock:
        for cls in resource_classes:
            if cls in _done:
                continue
            with contextlib.suppress(Exception):  # only the side effect matters; {} may miss required fields
                decoders.decode_object(b"{}", cls)
            with contextlib.suppress(Exception):
                decoders.decode_list(b'{"items": []}', cls)
            _done.add(cls)
