"""The streaming worker end to end: real broker (tansu), real Redis, real ``rnnstream worker`` processes.

Streaming equals offline: every stream's predictions equal the whole-sequence pass of the same model
(``rnnstream predict``'s code path) within 1e-5, and after deduplication by (stream, seq) every chunk's
prediction is present exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rnnstream.datasets import fsdd_split, sms_split
from rnnstream.events import (
    decode_prediction,
)
from rnnstream.features.audio import file_features
from rnnstream.features.text import tokenize
from rnnstream.runtime.predict import predict_sequence
from rnnstream.runtime.session import OnnxModel
from tests.factories import event_record
from tests.integration.worker_process import Topics, WorkerProcess, collect, create_topics, produce
from tests.paths import AUDIO_MODEL, FSDD, SMS, TEXT_MODEL, require_shared

pytestmark = pytest.mark.services


def _events(stream: str, model: str, pieces: list, now: int) -> list[tuple[bytes, bytes]]:  # type: ignore[type-arg]
    last = len(pieces) - 1
    return [
        event_record(
            stream,
            seq,
            model=model,
            end=seq == last,
            produced_at_ms=now,
            **({"frames": piece} if isinstance(piece, np.ndarray) else {"tokens": piece}),
        )
        for seq, piece in enumerate(pieces)
    ]


def _random_pieces(x, rng: np.random.Generator) -> list:  # type: ignore[no-untyped-def,type-arg]
    pieces, pos = [], 0
    while pos < len(x):
        size = int(rng.choice([1, 2, 3, 5, 8, 13, 21, 40]))
        pieces.append(x[pos : pos + size])
        pos += size
    return pieces


def _interleave(streams: list[list], rng: np.random.Generator) -> list:  # type: ignore[type-arg]
    queues = [list(s) for s in streams if s]
    out = []
    while queues:
        i = int(rng.integers(len(queues)))
        out.append(queues[i].pop(0))
        if not queues[i]:
            queues.pop(i)
    return out


@pytest.fixture
def topics(broker_bootstrap: str) -> Topics:
    t = Topics()
    asyncio.run(create_topics(broker_bootstrap, [t.input, t.predictions, t.dead_letters], partitions=4))
    return t


@pytest.fixture
def two_workers(
    topics: Topics, broker_bootstrap: str, redis_url: str, tmp_path: Path
) -> Iterator[list[WorkerProcess]]:
    env = topics.env(broker_bootstrap, redis_url)
    workers = [WorkerProcess(env, tmp_path / f"worker{i}.log") for i in range(2)]
    try:
        for w in workers:
            w.wait_ready()
        yield workers
    finally:
        codes = [w.stop() for w in workers]
        assert codes == [0, 0], [w.log_tail() for w in workers]


@pytest.mark.slow
def test_all_fsdd_test_utterances_and_200_sms_stream_equal_offline(
    two_workers: list[WorkerProcess], topics: Topics, broker_bootstrap: str
) -> None:
    require_shared()
    rng = np.random.default_rng(2026)
    audio, text = OnnxModel(AUDIO_MODEL), OnnxModel(TEXT_MODEL)
    assert audio.manifest.features is not None
    now = int(time.time() * 1000)
    expected: dict[str, tuple[OnnxModel, np.ndarray, list[int]]] = {}  # stream -> model, x, chunk ends
    per_stream: list[list[tuple[bytes, bytes]]] = []
    for ex in fsdd_split(FSDD, "test"):
        x = file_features(ex.path, audio.manifest.features)
        pieces = _random_pieces(x, rng)
        sid = f"fsdd-{ex.path.stem}"
        expected[sid] = (audio, x, list(np.cumsum([len(p) for p in pieces])))
        per_stream.append(_events(sid, audio.name, pieces, now))
    for ex in sms_split(SMS, "test")[:200]:
        tokens = tokenize(ex.text)
        sid = f"sms-{ex.line}"
        expected[sid] = (text, text.encode(tokens), list(range(1, len(tokens) + 1)))
        per_stream.append(_events(sid, text.name, [[t] for t in tokens], now))
    records = _interleave(per_stream, rng)
    assert asyncio.run(produce(broker_bootstrap, topics.input, records)) == len(records)

    raw = asyncio.run(collect(broker_bootstrap, topics.predictions, until=len(records), timeout_s=240))
    predictions = [decode_prediction(r) for r in raw]
    by_key = {}
    for p in predictions:
        previous = by_key.setdefault((p.stream_id, p.seq), p)
        assert previous.scores == p.scores  # a re-delivered duplicate is identical
    assert len(by_key) == len(records), f"{len(by_key)} distinct predictions for {len(records)} chunks"
    worst = 0.0
    for sid, (model, x, ends) in expected.items():
        mine = [by_key[(sid, seq)] for seq in range(len(ends))]
        assert [p.steps_seen for p in mine] == ends
        assert [p.final for p in mine] == [False] * (len(ends) - 1) + [True]
        whole = predict_sequence(model, x, 0)
        final = mine[-1]
        assert final.label == whole.label
        worst = max(worst, max(abs(final.scores[k] - v) for k, v in whole.scores.items()))
        # an intermediate prediction equals the whole pass over that prefix
        k = len(ends) // 2
        prefix = predict_sequence(model, x[: ends[k]], 0)
        worst = max(worst, max(abs(mine[k].scores[lab] - v) for lab, v in prefix.scores.items()))
    assert worst <= 1e-5
    # both workers took part
    for w in two_workers:
        status, metrics = w.get("/metrics")
        assert status == 200
        assert 'rnnstream_events_total{model="fsdd-digits-lstm",outcome="accepted"}' in metrics
