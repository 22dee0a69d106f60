"""The parse cache is bounded by the total length of the texts it keeps, not only by their number: 512 long, valid
texts from anyone used to hold about 0.65 GB of parsed documents in a server process."""

from __future__ import annotations

import threading

from airpool.api import schema
from airpool.api.context import AppState
from airpool.api.graphql_http import CACHED_QUERY_CHARS, INLINE_QUERY_CHARS, GraphQLEndpoint
from airpool.api.prepared_cache import PreparedCache


def test_texts_are_dropped_least_recently_used_first_once_their_total_length_passes_the_budget() -> None:
    prepared: list[str] = []
    cache = PreparedCache(lambda text: prepared.append(text) or text.upper(), max_entries=100, max_chars=30)
    for text in ("a" * 10, "b" * 10, "c" * 10):
        assert cache(text) == text.upper()
    cache("a" * 10)  # used again: now the most recent
    cache("d" * 10)  # 40 characters: the least recently used ("b") goes
    info = cache.cache_info()
    assert (info.currsize, info.chars, info.hits, info.misses) == (3, 30, 1, 4)
    cache("b" * 10)
    assert prepared == ["a" * 10, "b" * 10, "c" * 10, "d" * 10, "b" * 10]  # "b" was prepared again
    cache("x" * 31)  # longer than the whole budget: prepared, never kept
    assert cache.cache_info().chars <= 30


def test_the_count_bound_still_holds() -> None:
    cache = PreparedCache(len, max_entries=3, max_chars=1_000)
    for i in range(10):
        cache(str(i))
    assert cache.cache_info().currsize == 3


def test_many_threads_at_once_keep_the_bounds() -> None:
    cache = PreparedCache(len, max_entries=50, max_chars=2_000)

    def work(offset: int) -> None:
        for i in range(300):
            cache(f"{offset}-{i}-" + "x" * (i % 40))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    info = cache.cache_info()
    assert info.currsize <= 50
    assert info.chars <= 2_000
    assert info.misses == 8 * 300


def test_the_endpoint_keeps_long_valid_texts_within_the_budget() -> None:
    endpoint = GraphQLEndpoint(
        schema=schema.executable_schema(),
        state=AppState.__new__(AppState),  # preparing a document never reads the state
        non_blocking=schema.NON_BLOCKING,
    )
    try:
        long_texts = 0
        for i in range(80):  # valid texts just under the cacheable length, each different
            fields = " ".join(f"v{i}_{n}: version" for n in range(CACHED_QUERY_CHARS // 20))
            text = f"{{ appConfig {{ {fields} }} }}"[: CACHED_QUERY_CHARS - 10]
            text = text[: text.rfind(" v")] + " } }"
            assert len(text) <= CACHED_QUERY_CHARS
            endpoint._prepared(text)
            long_texts += 1
        info = endpoint._prepared.cache_info()
        assert info.chars <= endpoint._prepared.max_chars
        assert info.currsize < long_texts
        # Such texts are not remembered as runnable on the event loop either.
        assert all(len(text) <= INLINE_QUERY_CHARS for text in endpoint._inline_texts)
    finally:
        endpoint.close()
