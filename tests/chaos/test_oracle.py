"""The oracle itself: a correct record passes, and each kind of damage a fault could do is caught."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rnnstream.clients import StreamReport
from rnnstream.core.chunk_rule import StreamRecord
from rnnstream.events import PredictionEvent
from rnnstream.features.text import tokenize
from rnnstream.runtime.predict import predict_sequence
from rnnstream.runtime.session import OnnxModel
from tests.chaos.load import Record
from tests.chaos.oracle import judge, longest_stall
from tests.paths import AUDIO_MODEL, TEXT_MODEL

TEXT = "WINNER! Call now to claim your free prize"


@pytest.fixture(scope="module")
def models() -> dict[str, OnnxModel]:
    return {"audio": OnnxModel(AUDIO_MODEL), "text": OnnxModel(TEXT_MODEL)}


def _good(models: dict[str, OnnxModel]) -> tuple[Record, dict[str, StreamRecord | None]]:
    """What a faultless run of one SMS, token by token, records."""
    model = models["text"]
    tokens = tokenize(TEXT)
    chunked = predict_sequence(model, model.encode(tokens), 1)
    record = Record()
    sid = "text-abc123"
    for seq, scores in enumerate(chunked.per_chunk):
        record.sent[(sid, seq)] = 100.0 + seq
        record.steps[(sid, seq)] = 1
        p = PredictionEvent(
            v=1,
            stream_id=sid,
            seq=seq,
            model=model.name,
            model_version=model.version,
            label=model.labels[int(np.argmax(scores))],
            scores={lab: float(x) for lab, x in zip(model.labels, scores, strict=True)},
            steps_seen=seq + 1,
            final=seq == len(tokens) - 1,
            gap=False,
            produced_at_ms=1,
            predicted_at_ms=2,
        )
        record.received.append((p, 0, 100.5 + seq))
    record.streams[sid] = StreamReport(
        sid, TEXT, chunks=len(tokens), steps=len(tokens), extra={"input": TEXT}
    )
    record.reader_done_at = 200.0
    stored = StreamRecord(seq=len(tokens) - 1, ended=True, steps_seen=len(tokens), chunks=len(tokens))
    return record, {sid: stored}


def test_a_faultless_record_passes(models: dict[str, OnnxModel]) -> None:
    record, stored = _good(models)
    verdict = judge(record, models, stored)
    assert verdict.ok, verdict.problems
    assert (verdict.streams, verdict.chunks, verdict.lost) == (1, len(tokenize(TEXT)), 0)


def test_a_missing_prediction_is_lost(models: dict[str, OnnxModel]) -> None:
    record, stored = _good(models)
    del record.received[3]
    verdict = judge(record, models, stored)
    assert verdict.lost == 1 and not verdict.ok


def test_a_reemitted_prediction_that_differs_is_caught(models: dict[str, OnnxModel]) -> None:
    record, stored = _good(models)
    p, part, at = record.received[2]
    other = p.model_copy(update={"scores": {k: v * 0.5 for k, v in p.scores.items()}})
    record.received.append((other, part, at + 1))
    assert judge(record, models, stored).differing_reemits == 1


def test_a_chunk_applied_twice_is_caught(models: dict[str, OnnxModel]) -> None:
    record, stored = _good(models)
    p, part, at = record.received[4]
    record.received[4] = (p.model_copy(update={"steps_seen": p.steps_seen + 1}), part, at)
    assert judge(record, models, stored).double_applied == 1
    record, stored = _good(models)
    (sid, rec) = next(iter(stored.items()))
    stored[sid] = dataclasses.replace(rec, chunks=rec.chunks + 1)
    assert judge(record, models, stored).double_applied == 1


def test_a_skipped_update_or_wrong_state_diverges(models: dict[str, OnnxModel]) -> None:
    record, stored = _good(models)
    p, part, at = record.received[5]
    record.received[5] = (p.model_copy(update={"steps_seen": p.steps_seen - 1, "gap": True}), part, at)
    assert judge(record, models, stored).diverged == 1
    record, stored = _good(models)
    p, part, at = record.received[-1]
    nudged = {k: min(1.0, v + 1e-4) for k, v in p.scores.items()}
    record.received[-1] = (p.model_copy(update={"scores": nudged}), part, at)
    assert judge(record, models, stored).diverged == 1


def test_a_missing_or_stale_stored_record_is_caught(models: dict[str, OnnxModel]) -> None:
    record, stored = _good(models)
    (sid, rec) = next(iter(stored.items()))
    assert judge(record, models, {sid: None}).bad_records == 1
    assert rec is not None
    stale = StreamRecord(seq=rec.seq - 1, steps_seen=rec.steps_seen - 1, chunks=rec.chunks - 1)
    assert judge(record, models, {sid: stale}).bad_records == 1


def test_the_longest_stall_is_the_longest_wait_with_input_pending() -> None:
    record = Record()
    for seq, (sent, arrived) in enumerate([(0.0, 0.1), (0.2, 0.3), (0.4, 5.4), (0.5, 5.5), (9.0, 9.2)]):
        record.sent[("s", seq)] = sent
        p = PredictionEvent.model_construct(stream_id="s", seq=seq)
        record.received.append((p, 0, arrived))
    record.received.append((PredictionEvent.model_construct(stream_id="s", seq=1), 0, 5.6))  # a re-emit
    stall, since = longest_stall(record)
    assert (round(stall, 6), since) == (5.0, 0.4)  # 0.4 .. 5.4; 0.3 .. 0.4 and 5.5 .. 9.0 had nothing pending


def test_a_kill_recovers_when_the_last_stall_it_caused_ends() -> None:
    from tests.chaos.oracle import partition_of, partition_stalls, recovery_after

    record = Record()
    a = next(f"s{i}" for i in range(100) if partition_of(f"s{i}", 6) == 0)
    b = next(f"s{i}" for i in range(100) if partition_of(f"s{i}", 6) == 1)
    timeline = {  # stream -> (sent, arrived) per seq
        a: [(0.0, 0.1), (1.0, 1.1), (2.0, 9.0), (3.0, 9.1)],  # the dead worker's partition: 1.1 .. 9.0
        b: [(0.5, 0.6), (1.5, 1.6), (6.0, 11.0), (12.0, 12.1)],  # the rebalance later stops this one too
    }
    for sid, chunks in timeline.items():
        for seq, (sent, arrived) in enumerate(chunks):
            record.sent[(sid, seq)] = sent
            record.received.append((PredictionEvent.model_construct(stream_id=sid, seq=seq), 0, arrived))
    stalls = partition_stalls(record, 6)
    assert stalls[0] == [(2.0, 9.0)] and stalls[1] == [(6.0, 11.0)]
    assert recovery_after(stalls, 1.5, window_s=9.0) == 9.5  # until partition 1 published again at 11.0
    assert recovery_after(stalls, 20.0, window_s=9.0) == 0.0  # nothing stalled after that
