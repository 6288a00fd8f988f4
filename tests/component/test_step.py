"""The batched step, without Kafka or Redis: streaming equals offline for any chunking and interleaving,
duplicates and redeliveries never apply twice, and padding never leaks between streams."""

from __future__ import annotations

import numpy as np
import pytest

from rnnstream.core.chunk_rule import GapPolicy, Outcome
from rnnstream.core.records import StateKey
from rnnstream.core.step import AdmittedChunk, run_step
from rnnstream.runtime.predict import predict_sequence
from rnnstream.runtime.session import OnnxModel
from rnnstream.state.memory import MemoryStateStore
from tests.paths import AUDIO_MODEL, TEXT_MODEL


def _sequences(model: OnnxModel, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    if model.manifest.task == "audio":
        return [
            (rng.standard_normal((int(rng.integers(1, 90)), 40)) - 6).astype(np.float32) for _ in range(n)
        ]
    return [
        rng.integers(0, len(model.vocabulary or []), int(rng.integers(1, 40))).astype(np.int64)
        for _ in range(n)
    ]


def _chunk_stream(stream: str, x: np.ndarray, rng: np.random.Generator) -> list[AdmittedChunk]:
    chunks, pos, seq = [], 0, 0
    while pos < len(x):
        size = int(rng.choice([1, 2, 3, 7, 10, 25]))
        piece = x[pos : pos + size]
        pos += len(piece)
        chunks.append(AdmittedChunk(stream, seq, seq == 0, pos >= len(x), piece))
        seq += 1
    return chunks


def _interleave(per_stream: list[list[AdmittedChunk]], rng: np.random.Generator) -> list[AdmittedChunk]:
    queues = [list(q) for q in per_stream]
    out = []
    while any(queues):
        q = queues[int(rng.choice([i for i, q in enumerate(queues) if q]))]
        out.append(q.pop(0))
    return out


async def _drive(model: OnnxModel, events: list[AdmittedChunk], rng: np.random.Generator) -> list:  # type: ignore[type-arg]
    store = MemoryStateStore()
    outcomes = []
    pos = 0
    while pos < len(events):
        batch = events[pos : pos + int(rng.integers(1, 40))]
        pos += len(batch)
        streams = sorted({c.stream_id for c in batch})
        keys = [StateKey(model.name, model.version, s) for s in streams]
        loaded = dict(zip(streams, await store.load_many(keys), strict=True))
        result = run_step(model, batch, loaded, policy=GapPolicy.SKIP, now_ms=0)
        assert all(r.applied for r in await store.store_many(result.writes, ttl_s=3600))
        outcomes.extend(result.outcomes)
    return outcomes


@pytest.mark.parametrize("folder", [AUDIO_MODEL, TEXT_MODEL], ids=["audio", "text"])
@pytest.mark.parametrize("seed", [0, 1])
async def test_streaming_equals_offline_with_duplicates(folder, seed: int) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    model = OnnxModel(folder)
    seqs = _sequences(model, 12, rng)
    per_stream = [_chunk_stream(f"s{i}", x, rng) for i, x in enumerate(seqs)]
    events = _interleave(per_stream, rng)
    # Redeliver a random third of the events later (as Kafka does after a crash): never applied twice.
    redelivered = [events[int(i)] for i in rng.choice(len(events), len(events) // 3, replace=False)]
    outcomes = await _drive(model, events + sorted(redelivered, key=lambda c: c.stream_id), rng)
    accepted = [o for o in outcomes if o.decision.accepted]
    dups = [o for o in outcomes if o.decision.outcome is Outcome.DUPLICATE]
    assert len(dups) == len(redelivered)
    seen = {(o.chunk.stream_id, o.chunk.seq) for o in accepted}
    assert len(seen) == len(accepted) == sum(len(p) for p in per_stream)  # each chunk exactly once
    for i, x in enumerate(seqs):
        mine = sorted((o for o in accepted if o.chunk.stream_id == f"s{i}"), key=lambda o: o.chunk.seq)
        pos = 0
        for o in mine:
            pos += len(o.chunk.data)
            ref = predict_sequence(model, x[:pos], 0)
            assert o.steps_seen == pos
            assert np.abs(np.array(list(ref.scores.values())) - o.scores).max() <= 1e-5
        assert mine[-1].decision.final


def test_padding_does_not_leak_between_rows() -> None:
    model = OnnxModel(AUDIO_MODEL)
    rng = np.random.default_rng(5)
    short, long_ = ((rng.standard_normal((n, 40)) - 6).astype(np.float32) for n in (3, 50))
    together = run_step(
        model,
        [AdmittedChunk("a", 0, True, False, short), AdmittedChunk("b", 0, True, False, long_)],
        {},
        policy=GapPolicy.SKIP,
        now_ms=0,
    )
    alone = run_step(model, [AdmittedChunk("a", 0, True, False, short)], {}, policy=GapPolicy.SKIP, now_ms=0)
    assert together.wave_rows == [2]
    np.testing.assert_allclose(together.outcomes[0].scores, alone.outcomes[0].scores, atol=1e-6)  # type: ignore[arg-type]
    np.testing.assert_allclose(
        together.writes[0].record.tensors["h"], alone.writes[0].record.tensors["h"], atol=1e-6
    )


def test_waves_keep_order_and_fence_on_loaded_seq() -> None:
    model = OnnxModel(TEXT_MODEL)
    x = np.arange(2, 8, dtype=np.int64)
    chunks = [AdmittedChunk("a", i, i == 0, i == 5, x[i : i + 1]) for i in range(6)] + [
        AdmittedChunk("b", 0, True, False, x[:2])
    ]
    res = run_step(model, chunks, {"a": None, "b": None}, policy=GapPolicy.SKIP, now_ms=7)
    assert res.wave_rows == [2, 1, 1, 1, 1, 1]
    assert [w.expected_seq for w in res.writes] == [None, None]
    final = next(w.record for w in res.writes if w.key.stream_id == "a")
    assert final.ended and final.seq == 5 and final.steps_seen == 6 and not final.tensors
    whole = predict_sequence(model, x, 0)
    last = res.outcomes[5]
    assert last.decision.final
    assert np.abs(np.array(list(whole.scores.values())) - last.scores).max() <= 1e-5  # type: ignore[operator]
