"""No input stops a partition, through a real worker on the real broker and Redis: every hostile input of
``tests/poison.py`` (v1 and v2) and 1,300+ records of the seeded fuzz corpora (v1 JSON and v2 binary) get
exactly one dead letter with their reason and no prediction, while good audio and text streams interleaved
with them (audio in v1 and in v2) finish equal to the offline pass.
A record whose header key is not UTF-8 (sent with kcat) is served; SIGTERM during a Redis outage exits 75
promptly without committing."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from rnnstream import localservices
from rnnstream.datasets import fsdd_split, sms_split
from rnnstream.events import decode_dead_letter, decode_prediction
from rnnstream.features.audio import file_features
from rnnstream.features.text import tokenize
from rnnstream.runtime.predict import predict_sequence
from rnnstream.runtime.session import OnnxModel
from tests.fuzz_corpus import binary_corpus, codec_verdict, corpus
from tests.integration.kcat_compat import kcat_friendly_broker
from tests.integration.worker_process import (
    Topics,
    WorkerProcess,
    collect,
    create_topics,
    produce,
    worker_on_own_redis,
)
from tests.paths import AUDIO_MODEL, FSDD, SMS, TEXT_MODEL, require_shared
from tests.poison import encoded, event_doc, frames_doc, poison_cases, v2_value

pytestmark = [pytest.mark.services, pytest.mark.slow]


def _good_streams() -> tuple[list[list[tuple[bytes, bytes]]], dict[str, tuple[OnnxModel, np.ndarray, int]]]:
    require_shared()
    audio, text = OnnxModel(AUDIO_MODEL), OnnxModel(TEXT_MODEL)
    assert audio.manifest.features is not None
    streams: list[list[tuple[bytes, bytes]]] = []
    expected: dict[str, tuple[OnnxModel, np.ndarray, int]] = {}
    for n, ex in enumerate(fsdd_split(FSDD, "test")[:4]):
        x = file_features(ex.path, audio.manifest.features)
        sid = f"good-{ex.path.stem}"
        pieces = [x[i : i + 7] for i in range(0, len(x), 7)]
        if n % 2:  # every other audio stream in the v2 binary format
            values = [
                v2_value(sid, seq, frames=p, end=seq == len(pieces) - 1) for seq, p in enumerate(pieces)
            ]
        else:
            values = [
                encoded(frames_doc(sid, p, seq, end=seq == len(pieces) - 1)) for seq, p in enumerate(pieces)
            ]
        streams.append([(sid.encode(), v) for v in values])
        expected[sid] = (audio, x, len(pieces))
    for ex in sms_split(SMS, "test")[:6]:
        tokens = tokenize(ex.text)
        sid = f"good-sms-{ex.line}"
        docs = [
            event_doc(
                sid,
                seq,
                model=text.name,
                end=seq == len(tokens) - 1,
                payload={"kind": "tokens", "tokens": [t]},
            )
            for seq, t in enumerate(tokens)
        ]
        streams.append([(sid.encode(), encoded(d)) for d in docs])
        expected[sid] = (text, text.encode(tokens), len(tokens))
    return streams, expected


def test_no_input_stops_a_partition(broker_bootstrap: str, redis_url: str, tmp_path: Path) -> None:
    t = Topics()
    asyncio.run(create_topics(broker_bootstrap, [t.input, t.predictions, t.dead_letters], partitions=2))
    bad: list[tuple[bytes | None, bytes, str]] = [(k, v, r) for _, k, v, r in poison_cases("p-")]
    fuzzed = [(k, v, reason) for k, v in corpus() if (reason := codec_verdict(k, v)) is not None]
    assert len(fuzzed) >= 1000
    fuzzed_v2 = [(k, v, reason) for k, v in binary_corpus() if (reason := codec_verdict(k, v)) is not None]
    assert len(fuzzed_v2) >= 300
    bad += fuzzed_v2
    bad += fuzzed
    streams, expected = _good_streams()
    rng = np.random.default_rng(12)
    queues = [list(s) for s in streams] + [[(k, v) for k, v, _ in bad]]
    records: list[tuple[bytes | None, bytes]] = []
    while queues:  # interleave: the good streams run between (and in the same batches as) the bad records
        i = int(rng.integers(len(queues)))
        records.append(queues[i].pop(0))
        if not queues[i]:
            queues.pop(i)
    w = WorkerProcess(t.env(broker_bootstrap, redis_url), tmp_path / "worker.log")
    try:
        w.wait_ready()
        asyncio.run(produce(broker_bootstrap, t.input, records))
        good_chunks = sum(n for _, _, n in expected.values())
        raw_preds = asyncio.run(collect(broker_bootstrap, t.predictions, until=good_chunks, timeout_s=180))
        raw_letters = asyncio.run(collect(broker_bootstrap, t.dead_letters, until=len(bad), timeout_s=180))
        # nothing more arrives: no prediction for a bad record, no second dead letter
        time.sleep(2.0)
        assert len(
            asyncio.run(collect(broker_bootstrap, t.dead_letters, until=len(bad) + 1, timeout_s=5))
        ) == len(bad)
        status, body = w.get("/readyz")
        assert status == 200 and json.loads(body)["checks"]["processing"] is True, body
        assert w.proc.poll() is None
    finally:
        code = w.stop()
    assert code == 0, w.log_tail()
    letters = [decode_dead_letter(r) for r in raw_letters]
    assert Counter((d.original_bytes(), d.reason.value) for d in letters) == Counter(
        (v, r) for _, v, r in bad
    )
    assert all(d.detail and d.source is not None and d.source.topic == t.input for d in letters)
    predictions = {(p.stream_id, p.seq): p for p in map(decode_prediction, raw_preds)}
    assert {sid for sid, _ in predictions} == set(expected)  # only the good streams were predicted
    worst = 0.0
    for sid, (model, x, n) in expected.items():
        final = predictions[(sid, n - 1)]
        whole = predict_sequence(model, x, 0)
        assert final.final and final.steps_seen == len(x) and final.label == whole.label
        worst = max(worst, *(abs(final.scores[k] - v) for k, v in whole.scores.items()))
    assert worst <= 1e-5


def test_a_header_key_that_is_not_utf8_does_not_stop_the_worker(redis_url: str, tmp_path: Path) -> None:
    kcat = shutil.which("kcat")
    assert kcat is not None, "kcat is not on PATH: make setup installs it"
    t = Topics()
    with kcat_friendly_broker(tmp_path / "tansu.log") as broker:
        asyncio.run(create_topics(broker, [t.input, t.predictions, t.dead_letters], partitions=1))
        w = WorkerProcess(t.env(broker, redis_url), tmp_path / "worker.log")
        try:
            w.wait_ready()
            for seq, header in enumerate([b"\xff\xfe=x", b"trace=1"]):
                value = encoded(event_doc("hdr", seq, end=seq == 1))
                subprocess.run(
                    [kcat, "-b", broker, "-P", "-t", t.input, "-k", "hdr", "-H", header],
                    input=value,
                    check=True,
                    timeout=30,
                )
            preds = [
                decode_prediction(r)
                for r in asyncio.run(collect(broker, t.predictions, until=2, timeout_s=60))
            ]
            assert [(p.stream_id, p.seq) for p in preds] == [("hdr", 0), ("hdr", 1)]
            assert w.proc.poll() is None
        finally:
            code = w.stop()
    assert code == 0, w.log_tail()


def test_sigterm_during_a_redis_outage_exits_75_without_committing(
    broker_bootstrap: str, tmp_path: Path
) -> None:
    w, t, state, port = worker_on_own_redis(broker_bootstrap, tmp_path)
    try:
        w.wait_ready()
        localservices.stop_redis(state)
        asyncio.run(produce(broker_bootstrap, t.input, [(b"o", encoded(event_doc("o", 0)))]))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status, body = w.get("/readyz")
            if status == 503 and json.loads(body)["checks"]["processing"] is False:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"the worker never reported the outage: {w.get('/readyz')}")
        w.proc.send_signal(signal.SIGTERM)
        code = w.proc.wait(timeout=20)  # it used to wait for the batch forever
        assert code == 75, w.log_tail()
    finally:
        w.stop()
    # nothing was committed: a worker on a Redis that is back serves the chunk
    localservices.start_redis(state, port=port)
    again = WorkerProcess(t.env(broker_bootstrap, f"redis://127.0.0.1:{port}/0"), tmp_path / "again.log")
    try:
        again.wait_ready()
        preds = asyncio.run(collect(broker_bootstrap, t.predictions, until=1, timeout_s=60))
        assert [(p.stream_id, p.seq) for p in map(decode_prediction, preds)] == [("o", 0)]
    finally:
        code = again.stop()
        localservices.stop_redis(state)
    assert code == 0, again.log_tail()
