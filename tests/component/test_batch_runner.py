"""The batch runner on a memory store and a recording publisher: hostile inputs fail alone, outages retry only
the stage that failed, a failure of any other kind is bisected down to the event that causes it, and a stop
during an outage exits without committing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any, NoReturn

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from rnnstream.core.chunk_rule import GapPolicy
from rnnstream.core.records import StateKey, StateWrite, StreamRecord
from rnnstream.errors import PublishError, StateCodecError, StateError
from rnnstream.events import decode_dead_letter, decode_prediction, encode_dead_letter
from rnnstream.state.codec import check_encodable
from rnnstream.state.memory import MemoryStateStore
from rnnstream.state.store import WriteResult
from rnnstream.worker.batch_runner import BatchRunner, Health
from rnnstream.worker.loaded_models import LoadedModels
from rnnstream.worker.metrics import WorkerMetrics
from rnnstream.worker.processor import BatchProcessor, ProcessorConfig, RawEvent
from tests.paths import REPOSITORY
from tests.poison import TEXT, encoded, event_doc, poison_cases

REGISTRY = LoadedModels.load(REPOSITORY)
VERSION = REGISTRY.get(TEXT, None).version


class Recorder:
    def __init__(self, failures: int = 0) -> None:
        self.predictions: list[bytes] = []
        self.dead_letters: list[bytes] = []
        self.failures = failures
        self.calls = 0

    async def _maybe_fail(self) -> None:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise PublishError("broker down")

    async def send_predictions(self, records: Sequence[tuple[bytes, bytes]]) -> None:
        await self._maybe_fail()
        self.predictions.extend(v for _, v in records)

    async def send_dead_letters(self, records: Sequence[tuple[bytes | None, bytes]]) -> None:
        await self._maybe_fail()
        self.dead_letters.extend(v for _, v in records)


class FlakyStore(MemoryStateStore):
    """Fails the next ``store_failures`` stores (and ``load_failures`` loads) like a Redis outage."""

    def __init__(self, *, store_failures: int = 0, load_failures: int = 0) -> None:
        super().__init__()
        self.store_failures, self.load_failures = store_failures, load_failures

    async def load_many(self, keys: Sequence[StateKey]) -> list[StreamRecord | None]:
        if self.load_failures:
            self.load_failures -= 1
            raise StateError("redis is down")
        return await super().load_many(keys)

    async def store_many(self, writes: Sequence[StateWrite], ttl_s: float) -> list[WriteResult]:
        if self.store_failures:
            self.store_failures -= 1
            raise StateError("redis is down")
        return await super().store_many(writes, ttl_s)


class BuggyProcessor(BatchProcessor):
    """A bug that one stream's content triggers in the step (as seq 2**63 once did in the state codec)."""

    def _run_models(self, groups: Any, records: Any, keys: Any, now: int) -> Any:
        if any(c.stream_id == "boom" for _, chunks in groups.values() for c in chunks):
            raise OverflowError("the step cannot handle stream 'boom'")
        return super()._run_models(groups, records, keys, now)


class Exited(BaseException):
    pass


def _exit() -> NoReturn:
    raise Exited


def raw(stream: str, seq: int, *, end: bool = False, offset: int = 0) -> RawEvent:
    return RawEvent(encoded(event_doc(stream, seq, end=end)), stream.encode(), "in", 0, offset)


def make(
    store: MemoryStateStore | None = None,
    publisher: Recorder | None = None,
    cls: type[BatchProcessor] = BatchProcessor,
    policy: GapPolicy = GapPolicy.SKIP,
    executor: Executor | None = None,
) -> tuple[BatchRunner, Recorder, MemoryStateStore, CollectorRegistry]:
    store = store if store is not None else MemoryStateStore()
    publisher = publisher or Recorder()
    reg = CollectorRegistry()
    metrics = WorkerMetrics(reg)
    processor = cls(
        REGISTRY, store, publisher, metrics, ProcessorConfig(gap_policy=policy), executor=executor
    )
    runner = BatchRunner(processor, Health(), metrics, exit_now=_exit, first_delay_s=0.001, stop_grace_s=0.05)
    return runner, publisher, store, reg


async def stored(store: MemoryStateStore, stream: str) -> StreamRecord | None:
    return (await store.load_many([StateKey(TEXT, VERSION, stream)]))[0]


async def test_every_poison_pill_gets_exactly_one_dead_letter_and_the_good_stream_finishes() -> None:
    runner, rec, store, _ = make()
    cases = poison_cases("p-")
    batch = [RawEvent(value, key, "in", 0, i) for i, (_, key, value, _) in enumerate(cases)]
    good = [raw("alive", i, end=i == 2, offset=100 + i) for i in range(3)]
    await runner.run(good[:1] + batch + good[1:])
    letters = [decode_dead_letter(v) for v in rec.dead_letters]
    assert sorted((d.source.offset if d.source else -1, d.reason.value) for d in letters) == sorted(
        (i, reason) for i, (_, _, _, reason) in enumerate(cases)
    )
    assert all(d.detail for d in letters)
    assert [(p.stream_id, p.seq) for p in map(decode_prediction, rec.predictions)] == [
        ("alive", i) for i in range(3)
    ]
    record = await stored(store, "alive")
    assert record is not None and record.ended and record.seq == 2
    assert runner.health.processing_ok


async def test_a_dead_letter_never_carries_a_value_that_cannot_be_encoded() -> None:
    runner, rec, _, _ = make()
    (_, key, value, _) = next(c for c in poison_cases("p-") if c[0] == "surrogate_stream")
    await runner.run([RawEvent(value, key, "in", 0, 0)])
    letter = decode_dead_letter(rec.dead_letters[0])
    assert letter.stream_id is None  # the lone surrogate is not echoed
    assert encode_dead_letter(letter)


async def test_a_store_outage_retries_the_store_only_and_publishes_each_prediction_once() -> None:
    runner, rec, store, reg = make(store=FlakyStore(store_failures=3))
    await runner.run([raw("s", 0), raw("s", 1), raw("t", 0, end=True)])
    assert [(p.stream_id, p.seq) for p in map(decode_prediction, rec.predictions)] == [
        ("s", 0),
        ("s", 1),
        ("t", 0),
    ]
    record = await stored(store, "s")
    assert record is not None and record.seq == 1 and record.chunks == 2
    assert 'rnnstream_errors_total{stage="state"} 3.0' in generate_latest(reg).decode()
    assert runner.health.processing_ok and runner.health.last_error == ""


async def test_a_load_outage_and_a_broker_outage_are_retried_until_they_pass() -> None:
    runner, rec, store, reg = make(store=FlakyStore(load_failures=2), publisher=Recorder(failures=2))
    await runner.run([raw("s", 0)])
    assert len(rec.predictions) == 1 and rec.calls == 3
    assert await stored(store, "s") is not None
    text = generate_latest(reg).decode()
    assert 'rnnstream_errors_total{stage="state"} 2.0' in text
    assert 'rnnstream_errors_total{stage="publish"} 2.0' in text


async def test_a_bug_triggered_by_one_event_is_bisected_down_to_that_event() -> None:
    runner, rec, store, reg = make(cls=BuggyProcessor)
    batch = [raw("a", 0, offset=0), raw("b", 0, offset=1), raw("boom", 0, offset=2), raw("a", 1, offset=3)]
    batch += [raw(f"c{i}", 0, offset=4 + i) for i in range(5)]
    await runner.run(batch)
    letters = [decode_dead_letter(v) for v in rec.dead_letters]
    assert [(d.reason.value, d.stream_id, d.source.offset if d.source else None) for d in letters] == [
        ("processing_failed", "boom", 2)
    ]
    assert "OverflowError" in letters[0].detail
    predicted = sorted({(p.stream_id, p.seq) for p in map(decode_prediction, rec.predictions)})
    assert predicted == sorted([("a", 0), ("a", 1), ("b", 0)] + [(f"c{i}", 0) for i in range(5)])
    record = await stored(store, "a")
    assert record is not None and record.seq == 1 and record.chunks == 2  # applied once, in order
    assert await stored(store, "boom") is None
    assert 'rnnstream_dead_letters_total{reason="processing_failed"} 1.0' in generate_latest(reg).decode()


def test_a_record_the_state_codec_cannot_encode_is_refused_before_anything_is_published() -> None:
    with pytest.raises(StateCodecError):
        check_encodable(StreamRecord(seq=2**63))
    with pytest.raises(StateCodecError):
        check_encodable(StreamRecord(seq=1, updated_at_ms=2**64))
    check_encodable(StreamRecord(seq=2**63 - 1))


async def test_a_stop_during_an_outage_exits_without_storing() -> None:
    runner, _rec, store, _ = make(store=FlakyStore(store_failures=10**6))
    task = asyncio.ensure_future(runner.run([raw("s", 0)]))
    while runner.health.processing_ok:
        await asyncio.sleep(0.001)
    runner.health.stopping.set()
    with pytest.raises(Exited):
        await task
    assert await stored(store, "s") is None and not runner.health.processing_ok


async def test_a_stop_while_a_stage_hangs_exits_after_the_grace_period() -> None:
    class HangingStore(MemoryStateStore):
        async def load_many(self, keys: Sequence[StateKey]) -> list[StreamRecord | None]:
            await asyncio.sleep(3600)
            raise AssertionError("unreachable")

    runner, _, _, _ = make(store=HangingStore())
    task = asyncio.ensure_future(runner.run([raw("s", 0)]))
    await asyncio.sleep(0.01)
    runner.health.stopping.set()
    with pytest.raises(Exited):
        await task


async def test_a_stop_while_a_batch_succeeds_lets_it_finish() -> None:
    runner, rec, store, _ = make()
    runner.health.stopping.set()
    await runner.run([raw("s", 0)])
    assert len(rec.predictions) == 1 and await stored(store, "s") is not None


async def test_a_gap_detail_names_the_seq_the_stream_expects() -> None:
    runner, rec, _, _ = make(policy=GapPolicy.REJECT)
    await runner.run([raw("g", 0)])
    await runner.run([raw("g", 2)])
    letter = decode_dead_letter(rec.dead_letters[0])
    assert letter.reason.value == "gap" and "expected seq 1, got 2" in letter.detail
    runner, rec, _, _ = make(policy=GapPolicy.REJECT)
    await runner.run([raw("n", 3)])
    assert "expected seq 0, got 3" in decode_dead_letter(rec.dead_letters[0]).detail


async def test_duplicates_with_another_payload_do_not_change_state() -> None:
    runner, rec, store, _ = make()
    await runner.run([raw("d", 0), raw("d", 1)])
    before = await stored(store, "d")
    other = RawEvent(
        encoded(event_doc("d", 1, payload={"kind": "tokens", "tokens": ["x"] * 9})), b"d", "in", 0, 9
    )
    await runner.run([other])
    assert await stored(store, "d") == before and len(rec.predictions) == 2


async def test_a_single_event_that_fails_once_is_served_on_the_second_try() -> None:
    class FlakyStep(BatchProcessor):
        failures = 1

        def _run_models(self, groups: Any, records: Any, keys: Any, now: int) -> Any:
            if self.failures:
                self.failures -= 1
                raise RuntimeError("a passing fault that is no known outage")
            return super()._run_models(groups, records, keys, now)

    runner, rec, store, _ = make(cls=FlakyStep)
    await runner.run([raw("once", 0)])
    assert rec.dead_letters == [] and [decode_prediction(p).seq for p in rec.predictions] == [0]
    assert await stored(store, "once") is not None


async def test_a_write_refused_behind_a_zombie_runs_the_streams_events_again() -> None:
    """A worker that lost the partition stores seq 1 while the new owner computes seqs 1-3 from seq 0: the
    owner's write is refused, and its chunks 2 and 3 must still be applied before the batch is committed."""

    class ZombieFirst(MemoryStateStore):
        zombie: Any = None

        async def store_many(self, writes: Sequence[StateWrite], ttl_s: float) -> list[WriteResult]:
            if self.zombie is not None:
                zombie, self.zombie = self.zombie, None
                await zombie()  # the zombie's store lands between the owner's load and store
            return await super().store_many(writes, ttl_s)

    store = ZombieFirst()
    owner, rec, _, reg = make(store=store)
    zombie, zombie_rec, _, _ = make(store=store)
    await owner.run([raw("z", 0)])
    store.zombie = lambda: zombie.run([raw("z", 1)])
    await owner.run([raw("z", 1), raw("z", 2), raw("z", 3, end=True)])
    record = await stored(store, "z")
    assert record is not None and (record.seq, record.ended, record.chunks) == (3, True, 4)
    clean, clean_rec, clean_store, _ = make()
    await clean.run([raw("c", 0), raw("c", 1), raw("c", 2), raw("c", 3, end=True)])
    expected = await stored(clean_store, "c")
    assert expected is not None and record.steps_seen == expected.steps_seen
    final = [decode_prediction(p) for p in rec.predictions if decode_prediction(p).final][-1]
    clean_final = next(decode_prediction(p) for p in clean_rec.predictions if decode_prediction(p).final)
    assert max(abs(final.scores[k] - v) for k, v in clean_final.scores.items()) <= 1e-5
    assert (
        'rnnstream_events_total{model="sms-spam-lstm",outcome="fenced"} 1.0' in generate_latest(reg).decode()
    )
    assert [decode_prediction(p).seq for p in zombie_rec.predictions] == [1]
