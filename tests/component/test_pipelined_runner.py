"""Pipelined batches (``BatchRunner.submit``) and the write-through cache give what one batch at a time from the
store gives: the same predictions, the same stored records, acknowledgements in order and only after the
batch's store; a refusal by the fence in one batch sends the next one back to the store before it publishes."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from rnnstream.core.records import StateKey, StateWrite, StreamRecord
from rnnstream.events import decode_prediction
from rnnstream.state.memory import MemoryStateStore
from rnnstream.state.store import WriteResult
from rnnstream.worker.batch_runner import BatchRunner, Health
from rnnstream.worker.metrics import WorkerMetrics
from rnnstream.worker.processor import INLINE, BatchProcessor, ProcessorConfig, RawEvent
from rnnstream.worker.state_cache import StateCache
from tests.component.test_batch_runner import REGISTRY, VERSION, Recorder, _exit, raw
from tests.poison import TEXT


def make(
    store: MemoryStateStore, *, cache_entries: int = 1000, executor: Any = INLINE
) -> tuple[BatchRunner, Recorder, StateCache, CollectorRegistry]:
    rec = Recorder()
    reg = CollectorRegistry()
    metrics = WorkerMetrics(reg)
    cache = StateCache(cache_entries, max_age_s=1800, metrics=metrics)
    processor = BatchProcessor(
        REGISTRY,
        store,
        rec,
        metrics,
        ProcessorConfig(),
        executor=executor,
        cache=cache if cache.enabled else None,
        clock_ms=lambda: 1_800_000_000_000,  # the same stamps in both runs
    )
    runner = BatchRunner(processor, Health(), metrics, exit_now=_exit, first_delay_s=0.001, stop_grace_s=0.05)
    return runner, rec, cache, reg


def workload(seed: int, streams: int = 6, chunks: int = 5) -> list[list[RawEvent]]:
    """Every stream's chunks in order, interleaved at random and cut into batches of random sizes (a stream
    often has chunks in two consecutive batches)."""
    rng = random.Random(seed)
    pending = {f"s{i}": 0 for i in range(streams)}
    events: list[RawEvent] = []
    while pending:
        stream = rng.choice(sorted(pending))
        seq = pending[stream]
        events.append(raw(stream, seq, end=seq == chunks - 1, offset=len(events)))
        pending[stream] += 1
        if pending[stream] == chunks:
            del pending[stream]
    batches, i = [], 0
    while i < len(events):
        n = rng.randint(1, 7)
        batches.append(events[i : i + n])
        i += n
    return batches


def by_stream_seq(rec: Recorder) -> dict[tuple[str, int], dict[str, float]]:
    out: dict[tuple[str, int], dict[str, float]] = {}
    for value in rec.predictions:
        p = decode_prediction(value)
        assert out.setdefault((p.stream_id, p.seq), p.scores) == p.scores, (
            "a prediction re-emitted differently"
        )
    return out


async def records(store: MemoryStateStore, streams: Sequence[str]) -> list[StreamRecord | None]:
    return await store.load_many([StateKey(TEXT, VERSION, s) for s in streams])


async def assert_as_one_batch_at_a_time(
    batches: list[list[RawEvent]], rec: Recorder, store: MemoryStateStore
) -> None:
    """``rec``'s predictions and ``store``'s records are those of ``batches`` run one at a time from the store
    (no cache) with the serial :meth:`BatchRunner.run`."""
    serial_store = MemoryStateStore()
    serial, serial_rec, _, _ = make(serial_store, cache_entries=0)
    for batch in batches:
        await serial.run(batch)
    assert [decode_prediction(v) for v in rec.predictions] == [
        decode_prediction(v) for v in serial_rec.predictions
    ]
    streams = [f"s{i}" for i in range(6)]
    assert await records(store, streams) == await records(serial_store, streams)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("cache_entries", [0, 1000])
async def test_pipelined_batches_equal_one_batch_at_a_time(seed: int, cache_entries: int) -> None:
    batches = workload(seed)
    piped_store = MemoryStateStore()
    piped, piped_rec, _, reg = make(piped_store, cache_entries=cache_entries)
    acked: list[int] = []
    for i, batch in enumerate(batches):
        await piped.submit(batch, lambda i=i: acked.append(i))
    assert await piped.drain()
    assert acked == list(range(len(batches)))
    await assert_as_one_batch_at_a_time(batches, piped_rec, piped_store)
    hits = reg.get_sample_value("rnnstream_state_cache_total", {"result": "hit"}) or 0
    assert (hits > 0) == (cache_entries > 0)


@pytest.mark.parametrize("seed", range(4))
async def test_pipelined_and_one_at_a_time_batches_mixed_equal_one_batch_at_a_time(seed: int) -> None:
    # what the worker does: a full batch is pipelined (submit), a smaller one runs after the batch in the
    # background is stored (run_after); any mix gives the serial predictions, records and ack order
    batches = workload(seed)
    mixed_store = MemoryStateStore()
    mixed, mixed_rec, _, _ = make(mixed_store)
    rng = random.Random(seed)
    acked: list[int] = []
    for i, batch in enumerate(batches):
        if rng.random() < 0.5:
            await mixed.submit(batch, lambda i=i: acked.append(i))
        else:
            await mixed.run_after(batch, lambda i=i: acked.append(i))
            assert acked == list(range(i + 1))  # this one and every one before it are stored
    assert await mixed.drain()
    assert acked == list(range(len(batches)))
    await assert_as_one_batch_at_a_time(batches, mixed_rec, mixed_store)


async def test_a_batch_is_acknowledged_only_once_stored() -> None:
    store = MemoryStateStore()
    runner, _, _, _ = make(store)
    key = StateKey(TEXT, VERSION, "a")
    stored_at_ack: list[int | None] = []

    def on_stored() -> None:  # what the store holds for the stream when the batch is acknowledged
        entry = store._entries.get(key)
        stored_at_ack.append(entry[0].seq if entry is not None else None)

    await runner.submit([raw("a", 0)], on_stored)
    await runner.submit([raw("a", 1)], on_stored)
    assert stored_at_ack == [0]  # batch 1 is in the background: not stored, not acknowledged yet
    await runner.drain()
    assert stored_at_ack == [0, 1]


class SneakyWriter(MemoryStateStore):
    """Another writer stores a stream's next chunk just before this worker's next store: the fence refuses
    this worker's write, and whatever it prepared on top of that write must not be published."""

    def __init__(self) -> None:
        super().__init__()
        self.before_next_store: Any = None

    async def store_many(self, writes: Sequence[StateWrite], ttl_s: float) -> list[WriteResult]:
        if self.before_next_store is not None:
            hook, self.before_next_store = self.before_next_store, None
            await hook()
        return await super().store_many(writes, ttl_s)


async def test_a_refusal_sends_the_next_batch_back_to_the_store() -> None:
    store = SneakyWriter()
    runner, rec, cache, _ = make(store)
    other, _, _, _ = make(store, cache_entries=0)
    await runner.submit([raw("z", 0)], lambda: None)
    await runner.drain()
    # while batch 1 (seq 1) is in flight, the other writer stores seq 1 first; batch 2 (seq 2, 3) was
    # prepared on top of this worker's seq 1
    store.before_next_store = lambda: other.run([raw("z", 1)])
    await runner.submit([raw("z", 1)], lambda: None)
    await runner.submit([raw("z", 2), raw("z", 3, end=True)], lambda: None)
    await runner.drain()
    final = (await records(store, ["z"]))[0]
    clean_store = MemoryStateStore()
    clean, clean_rec, _, _ = make(clean_store, cache_entries=0)
    await clean.run([raw("z", 0), raw("z", 1), raw("z", 2), raw("z", 3, end=True)])
    expected = (await records(clean_store, ["z"]))[0]
    assert final is not None and expected is not None
    assert (final.seq, final.ended, final.chunks, final.steps_seen) == (
        expected.seq,
        expected.ended,
        expected.chunks,
        expected.steps_seen,
    )
    mine = by_stream_seq(rec)  # each (stream, seq) published with one set of scores only
    assert mine.keys() == by_stream_seq(clean_rec).keys()
    assert (
        StateKey(TEXT, VERSION, "z") not in cache.snapshot()
        or cache.snapshot()[StateKey(TEXT, VERSION, "z")] == (await records(store, ["z"]))[0]
    )


async def test_a_stale_cache_entry_is_refused_and_the_stream_runs_from_the_store() -> None:
    """A writer this worker never saw (a zombie) moves a cached stream on: the write computed from the cache
    is refused behind the stored record, and the chunk runs again from the store."""
    store = MemoryStateStore()
    runner, rec, cache, _ = make(store)
    other, _, _, _ = make(store, cache_entries=0)
    await runner.submit([raw("y", 0)], lambda: None)
    await runner.drain()
    assert StateKey(TEXT, VERSION, "y") in cache.snapshot()
    await other.run([raw("y", 1)])  # behind the cache's back
    await runner.submit([raw("y", 2, end=True)], lambda: None)
    await runner.drain()
    final = (await records(store, ["y"]))[0]
    assert final is not None and (final.seq, final.ended, final.chunks) == (2, True, 3)
    last = decode_prediction(rec.predictions[-1])
    assert (last.seq, last.final, last.gap) == (2, True, False)


async def test_a_revoked_partition_is_read_from_the_store_again() -> None:
    store = MemoryStateStore()
    runner, _, cache, reg = make(store)
    await runner.submit([raw("r", 0)], lambda: None)
    await runner.drain()
    assert cache.revoke([("in", 0)]) == 1
    await runner.submit([raw("r", 1)], lambda: None)
    await runner.drain()
    assert reg.get_sample_value("rnnstream_state_cache_total", {"result": "hit"}) in (None, 0.0)
    record = (await records(store, ["r"]))[0]
    assert record is not None and record.seq == 1


async def test_a_batch_stored_before_a_state_loss_is_not_the_next_ones_start() -> None:
    """The batch before finished in the background; then the store lost its data (the epoch watch clears the
    cache): the next batch must start from the store, not from what the finished batch computed."""
    store = MemoryStateStore()
    runner, rec, cache, _ = make(store)
    await runner.submit([raw("e", 0)], lambda: None)
    for _ in range(10):  # let the background batch finish, without draining it
        await asyncio.sleep(0)
    store._entries.clear()
    cache.clear()
    await runner.submit([raw("e", 1)], lambda: None)
    await runner.drain()
    published = [decode_prediction(v) for v in rec.predictions]
    assert [(p.seq, p.gap) for p in published] == [(0, False), (1, True)]
