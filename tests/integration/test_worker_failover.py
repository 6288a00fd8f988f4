"""A worker killed with SIGKILL in the middle of the streams: its partitions move to the other worker, which
continues every stream from the state in Redis. Nothing is lost (every chunk's prediction arrives), nothing is
applied twice (frames seen and final scores equal the offline pass), and re-sent predictions are identical."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from rnnstream.datasets import fsdd_split
from rnnstream.events import decode_prediction
from rnnstream.features.audio import file_features
from rnnstream.runtime.predict import predict_sequence
from rnnstream.runtime.session import OnnxModel
from tests.integration.test_worker_e2e import _events, _interleave, _random_pieces
from tests.integration.worker_process import Topics, WorkerProcess, collect, create_topics, produce
from tests.paths import AUDIO_MODEL, FSDD, require_shared

pytestmark = [pytest.mark.services, pytest.mark.slow]


def test_sigkill_of_one_worker_loses_nothing_and_applies_nothing_twice(
    broker_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    require_shared()
    rng = np.random.default_rng(7)
    model = OnnxModel(AUDIO_MODEL)
    assert model.manifest.features is not None
    t = Topics()
    asyncio.run(create_topics(broker_bootstrap, [t.input, t.predictions, t.dead_letters], partitions=4))
    expected: dict[str, tuple[np.ndarray, list[int]]] = {}
    per_stream = []
    now = int(time.time() * 1000)
    for ex in fsdd_split(FSDD, "test")[::5]:  # 60 utterances
        x = file_features(ex.path, model.manifest.features)
        pieces = _random_pieces(x, rng)
        sid = f"fo-{ex.path.stem}"
        expected[sid] = (x, list(np.cumsum([len(p) for p in pieces])))
        per_stream.append(_events(sid, model.name, pieces, now))
    records = _interleave(per_stream, rng)
    half = len(records) // 2
    workers = [WorkerProcess(t.env(broker_bootstrap, redis_url), tmp_path / f"w{i}.log") for i in range(2)]
    try:
        for w in workers:
            w.wait_ready()
        asyncio.run(produce(broker_bootstrap, t.input, records[:half]))
        asyncio.run(collect(broker_bootstrap, t.predictions, until=half // 2, timeout_s=60))
        victim = next(w for w in workers if 'outcome="accepted"' in w.get("/metrics")[1])
        victim.proc.send_signal(signal.SIGKILL)  # no goodbye: uncommitted offsets are redelivered
        victim.proc.wait()
        asyncio.run(produce(broker_bootstrap, t.input, records[half:]))
        raw = asyncio.run(
            collect(broker_bootstrap, t.predictions, until=len(records) * 3, timeout_s=120, idle_s=15)
        )
    finally:
        for w in workers:
            w.stop()
    by_key: dict[tuple[str, int], object] = {}
    for p in map(decode_prediction, raw):
        first = by_key.setdefault((p.stream_id, p.seq), p)
        assert first.scores == p.scores, "a re-sent prediction differs"  # type: ignore[attr-defined]
    assert len(by_key) == len(records), f"{len(records) - len(by_key)} chunk predictions lost"
    for sid, (x, ends) in expected.items():
        final = by_key[(sid, len(ends) - 1)]
        assert final.final and final.steps_seen == ends[-1]  # type: ignore[attr-defined]
        whole = predict_sequence(model, x, 0)
        assert max(abs(final.scores[k] - v) for k, v in whole.scores.items()) <= 1e-5  # type: ignore[attr-defined]


def test_sigterm_commits_what_was_processed(broker_bootstrap: str, redis_url: str, tmp_path: Path) -> None:
    """After a graceful stop, a new worker in the same group starts after the processed events: nothing is
    redelivered, so no prediction is published twice."""
    rng = np.random.default_rng(3)
    t = Topics()
    asyncio.run(create_topics(broker_bootstrap, [t.input, t.predictions, t.dead_letters], partitions=2))
    x = (rng.standard_normal((40, 40)) - 6).astype(np.float32)
    records = _events(
        "graceful", "fsdd-digits-lstm", [x[i : i + 5] for i in range(0, 40, 5)], int(time.time() * 1000)
    )
    first = WorkerProcess(t.env(broker_bootstrap, redis_url), tmp_path / "first.log")
    first.wait_ready()
    asyncio.run(produce(broker_bootstrap, t.input, records))
    assert len(asyncio.run(collect(broker_bootstrap, t.predictions, until=len(records)))) == len(records)
    assert first.stop() == 0, first.log_tail()
    second = WorkerProcess(t.env(broker_bootstrap, redis_url), tmp_path / "second.log")
    try:
        second.wait_ready()
        time.sleep(3.0)  # time to (wrongly) re-process anything uncommitted
        raw = asyncio.run(collect(broker_bootstrap, t.predictions, until=len(records) + 1, timeout_s=5))
        assert len(raw) == len(records)
        _, metrics = second.get("/metrics")
        assert 'outcome="duplicate"' not in metrics and 'outcome="accepted"' not in metrics
    finally:
        assert second.stop() == 0, second.log_tail()
