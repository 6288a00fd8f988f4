"""The batch processor without Kafka or Redis: memory store, a recording publisher, the committed models."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from rnnstream.core.records import StateKey, StateWrite
from rnnstream.errors import StateError
from rnnstream.events import decode_dead_letter, decode_prediction, encode_event, event_key
from rnnstream.events.chunk_event import ChunkEvent, pcm_data
from rnnstream.state.memory import MemoryStateStore
from rnnstream.state.store import WriteResult
from rnnstream.worker import processor as processor_module
from rnnstream.worker.loaded_models import LoadedModels
from rnnstream.worker.metrics import WorkerMetrics
from rnnstream.worker.processor import BatchProcessor, ProcessorConfig, RawEvent
from tests.factories import event_record
from tests.paths import REPOSITORY


class Recorder:
    def __init__(self) -> None:
        self.predictions: list[bytes] = []
        self.dead_letters: list[bytes] = []

    async def send_predictions(self, records: Sequence[tuple[bytes, bytes]]) -> None:
        self.predictions.extend(v for _, v in records)

    async def send_dead_letters(self, records: Sequence[tuple[bytes | None, bytes]]) -> None:
        self.dead_letters.extend(v for _, v in records)


class FailingStore(MemoryStateStore):
    def __init__(self) -> None:
        super().__init__()
        self.fail = True

    async def store_many(self, writes: Sequence[StateWrite], ttl_s: float) -> list[WriteResult]:
        if self.fail:
            raise StateError("redis is down")
        return await super().store_many(writes, ttl_s)


def event(stream: str, seq: int, tokens: list[str], *, end: bool = False) -> RawEvent:
    key, value = event_record(stream, seq, tokens=tokens, end=end)
    return RawEvent(value, key, "in", 0, seq)


REGISTRY = LoadedModels.load(REPOSITORY)


def make(store: MemoryStateStore) -> tuple[BatchProcessor, Recorder, CollectorRegistry]:
    rec, reg = Recorder(), CollectorRegistry()
    return BatchProcessor(REGISTRY, store, rec, WorkerMetrics(reg), ProcessorConfig()), rec, reg


async def test_publish_then_store_and_a_failed_store_replays_identically() -> None:
    store = FailingStore()
    proc, rec, _ = make(store)
    batch = [event("s", 0, ["win"]), event("s", 1, ["cash"]), event("t", 0, ["hello"], end=True)]
    try:
        await proc.process(batch)
        raise AssertionError("expected StateError")
    except StateError:
        pass
    first = [decode_prediction(p) for p in rec.predictions]
    assert [(p.stream_id, p.seq) for p in first] == [("s", 0), ("s", 1), ("t", 0)]  # input order
    assert len(store) == 0  # nothing stored: offsets must not be committed, the batch comes again
    store.fail = False
    await proc.process(batch)  # the redelivery computes the same predictions again
    again = [decode_prediction(p) for p in rec.predictions[3:]]
    assert [(p.stream_id, p.seq, p.scores) for p in again] == [(p.stream_id, p.seq, p.scores) for p in first]
    await proc.process(batch)  # and a third delivery is all duplicates: no new prediction
    assert len(rec.predictions) == 6


async def test_two_workers_racing_on_one_stream_apply_each_chunk_once() -> None:
    store = MemoryStateStore()
    (a, rec_a, reg_a), (b, rec_b, reg_b) = make(store), make(store)
    await a.process([event("s", 0, ["a"])])

    async def race() -> None:  # both load seq 0 before either stores: one write is fenced off
        await asyncio.gather(a.process([event("s", 1, ["b"])]), b.process([event("s", 1, ["b"])]))

    await race()
    p_a, p_b = decode_prediction(rec_a.predictions[-1]), decode_prediction(rec_b.predictions[-1])
    assert p_a.seq == p_b.seq == 1 and p_a.scores == p_b.scores  # duplicates, deduplicable by (stream, seq)
    fenced_line = 'rnnstream_events_total{model="sms-spam-lstm",outcome="fenced"} 1.0'
    assert [fenced_line in generate_latest(r).decode() for r in (reg_a, reg_b)].count(True) == 1
    served = REGISTRY.get("sms-spam-lstm", None).version  # events without a version go to the latest
    stored = (await store.load_many([StateKey("sms-spam-lstm", served, "s")]))[0]
    assert stored is not None and stored.seq == 1 and stored.chunks == 2  # applied once


async def test_bad_events_fail_alone() -> None:
    proc, rec, reg = make(MemoryStateStore())
    batch = [event("s", 0, ["a"]), RawEvent(b"{}", None, "in", 0, 9), event("s", 1, ["b"])]
    await proc.process(batch)
    assert [decode_prediction(p).seq for p in rec.predictions] == [0, 1]
    letter = decode_dead_letter(rec.dead_letters[0])
    assert letter.reason.value == "wrong_schema" and letter.source is not None and letter.source.offset == 9
    assert 'rnnstream_dead_letters_total{reason="wrong_schema"} 1.0' in generate_latest(reg).decode()


def _pcm_raw(
    stream: str, seq: int, samples: object, rate: int, *, model: str = "fsdd-digits-lstm", end: bool = False
) -> RawEvent:
    chunk = ChunkEvent(
        stream_id=stream,
        seq=seq,
        model=model,
        start=seq == 0,
        end=end,
        produced_at_ms=1,
        pcm=pcm_data(samples, rate),
    )  # type: ignore[arg-type]
    return RawEvent(encode_event(chunk, 2), event_key(stream), "in", 0, seq)


async def test_pcm_the_worker_cannot_serve_is_dead_lettered_before_any_work() -> None:
    proc, rec, _ = make(MemoryStateStore())
    tone = (np.sin(np.arange(4000) / 3) * 8000).astype(np.int16)
    batch = [
        _pcm_raw("odd-rate", 0, tone, 191_999),  # no short resampling ratio to 8 kHz
        _pcm_raw("text-model", 0, tone, 8000, model="sms-spam-lstm"),  # a text model takes no audio
        _pcm_raw("fine", 0, tone, 16000, end=True),
    ]
    await proc.process(batch)
    letters = {d.stream_id: d for d in map(decode_dead_letter, rec.dead_letters)}
    assert set(letters) == {"odd-rate", "text-model"}
    assert all(d.reason == "bad_pcm" for d in letters.values())
    assert "191999 Hz has no short ratio" in letters["odd-rate"].detail
    [final] = [decode_prediction(p) for p in rec.predictions]
    assert final.stream_id == "fine" and final.final


async def test_a_streams_state_key_is_one_object_from_batch_to_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    proc = make(MemoryStateStore())[0]
    first = await proc.prepare([event("s", 0, ["a"]), event("t", 0, ["b"])])
    await proc.publish(first)
    await proc.store_state(first)
    second = await proc.prepare([event("s", 1, ["c"])])
    [key_before] = [k for k in first.events if k.stream_id == "s"]
    [key_after] = second.events
    assert key_after is key_before  # found again, not built again
    # the table of kept keys starts over once full: an equal key is built, and the step is the same
    monkeypatch.setattr(processor_module, "STATE_KEYS_KEPT", 2)
    third = await proc.prepare([event("u", 0, ["d"]), event("s", 1, ["c"])])
    [key_again] = [k for k in third.events if k.stream_id == "s"]
    assert key_again == key_before and key_again is not key_before
    assert [w.record.seq for w in third.writes if w.key.stream_id == "s"] == [1]
