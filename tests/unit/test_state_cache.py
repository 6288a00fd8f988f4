"""The write-through state cache's rules, without any store: LRU bound, generations, ageing, clearing."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from rnnstream.core.records import StateKey, StreamRecord
from rnnstream.worker.metrics import WorkerMetrics
from rnnstream.worker.state_cache import StateCache

P0, P1 = ("in", 0), ("in", 1)


def key(stream: str) -> StateKey:
    return StateKey("m", "1", stream)


def record(seq: int, at_ms: int = 1_000) -> StreamRecord:
    return StreamRecord(seq=seq, updated_at_ms=at_ms)


def test_a_put_is_found_and_counted() -> None:
    registry = CollectorRegistry()
    cache = StateCache(10, max_age_s=60, metrics=WorkerMetrics(registry))
    assert cache.put(key("a"), record(3), P0, cache.generations([P0])[P0])
    assert cache.lookup([key("a"), key("b")], now_ms=2_000) == {key("a"): record(3)}
    assert registry.get_sample_value("rnnstream_state_cache_total", {"result": "hit"}) == 1
    assert registry.get_sample_value("rnnstream_state_cache_total", {"result": "miss"}) == 1
    assert registry.get_sample_value("rnnstream_state_cache_entries") == 1


def test_least_recently_used_goes_first() -> None:
    cache = StateCache(2, max_age_s=60)
    gen = cache.generations([P0])[P0]
    cache.put(key("a"), record(1), P0, gen)
    cache.put(key("b"), record(1), P0, gen)
    cache.lookup([key("a")], now_ms=1_000)  # a is used, so b is the least recent
    cache.put(key("c"), record(1), P0, gen)
    assert set(cache.snapshot()) == {key("a"), key("c")}


def test_a_revoke_drops_the_partitions_streams_and_refuses_puts_from_before() -> None:
    cache = StateCache(10, max_age_s=60)
    before = cache.generations([P0, P1])
    cache.put(key("a"), record(1), P0, before[P0])
    cache.put(key("b"), record(1), P1, before[P1])
    assert cache.revoke([P0]) == 1
    assert set(cache.snapshot()) == {key("b")}
    # a batch that started before the revoke finishes after it: nothing of P0 comes back
    assert not cache.put(key("a"), record(2), P0, before[P0])
    assert cache.put(key("b"), record(2), P1, before[P1])
    assert cache.put(key("a"), record(2), P0, cache.generations([P0])[P0])


def test_old_entries_are_not_served() -> None:
    cache = StateCache(10, max_age_s=1)
    cache.put(key("a"), record(1, at_ms=1_000), P0, cache.generations([P0])[P0])
    assert cache.lookup([key("a")], now_ms=2_000) == {key("a"): record(1, at_ms=1_000)}
    assert cache.lookup([key("a")], now_ms=2_001) == {}


def test_drop_and_clear() -> None:
    registry = CollectorRegistry()
    cache = StateCache(10, max_age_s=60, metrics=WorkerMetrics(registry))
    gen = cache.generations([P0])[P0]
    cache.put(key("a"), record(1), P0, gen)
    cache.put(key("b"), record(1), P0, gen)
    cache.drop(key("a"))
    assert set(cache.snapshot()) == {key("b")}
    assert registry.get_sample_value("rnnstream_state_cache_entries") == 1  # the size as it is when read
    cache.clear()
    assert len(cache) == 0
    assert registry.get_sample_value("rnnstream_state_cache_entries") == 0
    assert not cache.put(key("b"), record(2), P0, gen)  # nothing from before the loss comes back


def test_capacity_zero_keeps_nothing() -> None:
    cache = StateCache(0, max_age_s=60)
    assert not cache.enabled
    assert not cache.put(key("a"), record(1), P0, cache.generations([P0])[P0])
    assert cache.lookup([key("a")], now_ms=0) == {}
