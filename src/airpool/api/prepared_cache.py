"""A least-recently-used cache of prepared GraphQL texts, bounded by the total length of the texts it keeps as well
as by their number.

A parsed document takes about 64 bytes of memory per character of its text (1.27 MB for a text of 20,000
characters), so ``functools.lru_cache(maxsize=512)`` let anyone, unauthenticated, fill about 0.65 GB of a server
process with 512 long, valid texts. The clients' real texts are a few hundred to a few thousand characters: all of
them fit within the default budget many times over.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, NamedTuple, TypeVar

T = TypeVar("T")

#: Entries kept at most.
MAX_ENTRIES = 512
#: Total characters of the texts kept at most (about 64 MB of parsed documents).
MAX_CHARS = 1_000_000


class CacheInfo(NamedTuple):
    hits: int
    misses: int
    maxsize: int
    currsize: int
    chars: int


class PreparedCache(Generic[T]):
    """``cache(text)`` is ``prepare(text)``, remembered. Safe from many threads; ``prepare`` runs outside the lock
    (two threads may prepare the same new text at once: the first result is kept)."""

    def __init__(
        self, prepare: Callable[[str], T], *, max_entries: int = MAX_ENTRIES, max_chars: int = MAX_CHARS
    ) -> None:
        self._prepare = prepare
        self.max_entries = max_entries
        self.max_chars = max_chars
        self._lock = threading.Lock()
        self._items: OrderedDict[str, T] = OrderedDict()
        self._chars = 0
        self._hits = self._misses = 0

    def __call__(self, text: str) -> T:
        with self._lock:
            if text in self._items:
                self._items.move_to_end(text)
                self._hits += 1
                return self._items[text]
        prepared = self._prepare(text)
        with self._lock:
            self._misses += 1
            if text not in self._items and len(text) <= self.max_chars:
                self._items[text] = prepared
                self._chars += len(text)
                while len(self._items) > self.max_entries or self._chars > self.max_chars:
                    dropped, _ = self._items.popitem(last=False)
                    self._chars -= len(dropped)
        return prepared

    def cache_info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(self._hits, self._misses, self.max_entries, len(self._items), self._chars)
