"""Documented behaviour through a real worker: every malformed input class reaches the dead-letter topic with
its reason while the worker keeps serving; duplicates, gaps, end, after-end and TTL expiry; metrics; and
readiness that follows Redis."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rnnstream import localservices
from rnnstream.events import (
    decode_dead_letter,
    decode_prediction,
)
from tests.factories import event_record
from tests.integration.worker_process import (
    Topics,
    WorkerProcess,
    collect,
    create_topics,
    produce,
    worker_on_own_redis,
)

pytestmark = pytest.mark.services
AUDIO, TEXT = "fsdd-digits-lstm", "sms-spam-lstm"


def ev(stream: str, seq: int, **kwargs: Any) -> tuple[bytes, bytes]:
    return event_record(stream, seq, start=kwargs.pop("start", False), **kwargs)


def good_json(**override: object) -> bytes:
    doc: dict[str, object] = {
        "v": 1,
        "stream_id": "m",
        "seq": 0,
        "model": AUDIO,
        "model_version": None,
        "start": True,
        "end": False,
        "produced_at_ms": 1,
        "payload": {
            "kind": "frames",
            "dtype": "float32",
            "shape": [2, 40],
            "data": base64.b64encode(np.zeros((2, 40), "<f4").tobytes()).decode(),
        },
    }
    doc.update(override)
    return json.dumps(doc).encode()


@pytest.fixture
def worker(broker_bootstrap: str, redis_url: str, tmp_path: Path) -> Iterator[tuple[WorkerProcess, Topics]]:
    t = Topics()
    asyncio.run(create_topics(broker_bootstrap, [t.input, t.predictions, t.dead_letters], partitions=2))
    env = t.env(broker_bootstrap, redis_url) | {
        "RNNSTREAM_GAP_POLICY": "reject",
        "RNNSTREAM_STATE_TTL_S": "2",
        "RNNSTREAM_MAX_CHUNK_STEPS": "500",
    }
    w = WorkerProcess(env, tmp_path / "worker.log")
    try:
        w.wait_ready()
        yield w, t
    finally:
        assert w.stop() == 0, w.log_tail()


def test_malformed_inputs_go_to_dead_letters_and_the_worker_keeps_serving(
    worker: tuple[WorkerProcess, Topics], broker_bootstrap: str
) -> None:
    w, t = worker
    nan = np.zeros((3, 40), np.float32)
    nan[1, 5] = np.nan
    bad: dict[str, bytes] = {
        "not_decodable": b"\xff\xfe not json",
        "wrong_schema": good_json(seq="3"),
        "wrong_feature_width": good_json(
            payload={
                "kind": "frames",
                "dtype": "float32",
                "shape": [2, 39],
                "data": base64.b64encode(np.zeros((2, 39), "<f4").tobytes()).decode(),
            }
        ),
        "non_finite": ev("nan", 0, model=AUDIO, frames=nan, start=True)[1],
        "empty": good_json(payload={"kind": "tokens", "tokens": []}, model=TEXT),
        "oversized": ev("big", 0, tokens=["a"] * 501, start=True)[1],
        "unknown_model": good_json(model="no-such-model"),
        "unknown_version": good_json(model_version="99"),
        "negative_seq": good_json(seq=-1),
    }
    records = [(b"m", value) for value in bad.values()]  # "m": the stream id of the decodable ones
    # a good stream interleaved with the bad events: it must be served in full
    good = [ev("alive", i, tokens=["free", "call", "now"], start=i == 0, end=i == 4) for i in range(5)]
    records = [
        r for pair in zip(records, good + [None] * len(records), strict=False) for r in pair if r is not None
    ]
    asyncio.run(produce(broker_bootstrap, t.input, records))
    letters = [
        decode_dead_letter(r) for r in asyncio.run(collect(broker_bootstrap, t.dead_letters, until=len(bad)))
    ]
    assert sorted(letter.reason.value for letter in letters) == sorted(bad)
    for letter in letters:
        assert letter.detail and letter.source is not None and letter.source.topic == t.input
        assert letter.original_bytes() == bad[letter.reason.value]
    preds = [decode_prediction(r) for r in asyncio.run(collect(broker_bootstrap, t.predictions, until=5))]
    assert [p.seq for p in preds if p.stream_id == "alive"] == [0, 1, 2, 3, 4]
    status, metrics = w.get("/metrics")
    assert status == 200
    for reason in bad:
        assert f'rnnstream_dead_letters_total{{reason="{reason}"}} 1.0' in metrics
    assert w.proc.poll() is None


def test_duplicates_gaps_end_and_ttl(worker: tuple[WorkerProcess, Topics], broker_bootstrap: str) -> None:
    w, t = worker
    a = [ev("a", i, tokens=["win", "cash"], start=i == 0, end=i == 3) for i in range(4)]
    records = [
        a[0],
        a[1],
        a[1],
        a[0],
        a[2],
        a[3],
        a[3],  # duplicates: redelivered seq 1, 0 and 3
        ev("a", 4, tokens=["late"]),  # after the end
        ev("g", 0, start=True),
        ev("g", 2),
    ]  # a gap under policy reject
    asyncio.run(produce(broker_bootstrap, t.input, records))
    preds = [
        decode_prediction(r)
        for r in asyncio.run(collect(broker_bootstrap, t.predictions, until=5, timeout_s=30))
    ]
    letters = [
        decode_dead_letter(r)
        for r in asyncio.run(collect(broker_bootstrap, t.dead_letters, until=2, timeout_s=30))
    ]
    assert sorted((p.stream_id, p.seq) for p in preds) == [("a", 0), ("a", 1), ("a", 2), ("a", 3), ("g", 0)]
    assert [p.final for p in sorted(preds, key=lambda p: (p.stream_id, p.seq)) if p.stream_id == "a"] == [
        False
    ] * 3 + [True]
    assert sorted((d.reason.value, d.stream_id, d.seq) for d in letters) == [
        ("after_end", "a", 4),
        ("gap", "g", 2),
    ]
    _, metrics = w.get("/metrics")
    assert f'rnnstream_events_total{{model="{TEXT}",outcome="duplicate"}} 3.0' in metrics
    # TTL: the state of stream "x" expires after 2 s idle; seq 1 then finds no state: a gap (policy reject).
    asyncio.run(produce(broker_bootstrap, t.input, [ev("x", 0, start=True)]))
    asyncio.run(collect(broker_bootstrap, t.predictions, until=6, timeout_s=30))
    time.sleep(3.0)
    asyncio.run(produce(broker_bootstrap, t.input, [ev("x", 1)]))
    letters = [
        decode_dead_letter(r)
        for r in asyncio.run(collect(broker_bootstrap, t.dead_letters, until=3, timeout_s=30))
    ]
    assert ("gap", "x", 1) in {(d.reason.value, d.stream_id, d.seq) for d in letters}


def test_metrics_and_readiness_follow_redis(broker_bootstrap: str, tmp_path: Path) -> None:
    """A worker on its own Redis: /readyz fails while that Redis is down, and the batch that arrived during
    the outage is processed once Redis is back (nothing lost)."""
    w, t, state, port = worker_on_own_redis(broker_bootstrap, tmp_path)
    try:
        w.wait_ready()
        asyncio.run(produce(broker_bootstrap, t.input, [ev("r", 0, start=True)]))
        assert len(asyncio.run(collect(broker_bootstrap, t.predictions, until=1))) == 1
        status, text = w.get("/metrics")
        assert status == 200
        for name in (
            "rnnstream_events_total",
            "rnnstream_predictions_total",
            "rnnstream_batch_events_bucket",
            "rnnstream_wave_rows_bucket",
            "rnnstream_onnx_seconds_bucket",
            "rnnstream_redis_seconds_bucket",
            "rnnstream_latency_seconds_bucket",
            "rnnstream_active_streams",
            "rnnstream_model_info",
            "rnnstream_worker_ready 1.0",
        ):
            assert name in text, name
        assert "stream_id" not in text and 'r"' not in text  # never a stream id as a label
        localservices.stop_redis(state)
        deadline = time.monotonic() + 20
        while w.get("/readyz")[0] != 503 and time.monotonic() < deadline:
            time.sleep(0.2)
        status, body = w.get("/readyz")
        assert status == 503 and json.loads(body)["checks"]["redis"] is False
        assert w.get("/healthz")[0] == 200  # alive, just not ready
        asyncio.run(produce(broker_bootstrap, t.input, [ev("r", 1)]))  # arrives during the outage
        time.sleep(1.0)
        localservices.start_redis(state, port=port)  # empty again: "r" seq 1 is a gap now (policy skip)
        preds = [
            decode_prediction(p)
            for p in asyncio.run(collect(broker_bootstrap, t.predictions, until=2, timeout_s=40))
        ]
        assert [(p.stream_id, p.seq) for p in preds][-1] == ("r", 1)
        w.wait_ready(30)
    finally:
        code = w.stop()
        localservices.stop_redis(state)
    assert code == 0, w.log_tail()
