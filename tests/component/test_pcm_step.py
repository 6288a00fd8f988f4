"""The step with raw PCM, without Kafka or Redis: streamed equals the whole-file pass for any packets, the
front-end state survives the record codec, a packet that changes the format leaves the record alone."""

from __future__ import annotations

import numpy as np
import pytest

from rnnstream.core.chunk_rule import GapPolicy, Outcome, RejectReason
from rnnstream.core.pcm import PcmSamples
from rnnstream.core.records import StreamRecord
from rnnstream.core.step import AdmittedChunk, run_step
from rnnstream.features.audio import compute_features
from rnnstream.runtime.pcm import PcmFrontEnd, packets_of, stream_pcm
from rnnstream.runtime.predict import predict_sequence
from rnnstream.runtime.session import OnnxModel
from rnnstream.state.codec import FORMAT_VERSION, FRONTEND_FORMAT_VERSION, decode_record, encode_record
from tests.paths import AUDIO_MODEL, AUDIO_MODEL_V1


def _tone(rate: int, seconds: float, channels: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(rate * seconds)
    t = np.arange(n) / rate
    y = 0.3 * np.sin(2 * np.pi * 300 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.02 * rng.standard_normal(n)
    return np.stack([y, 0.5 * y], axis=1).astype(np.float32) if channels == 2 else y.astype(np.float32)


@pytest.mark.parametrize("model_dir", [AUDIO_MODEL, AUDIO_MODEL_V1])
@pytest.mark.parametrize(("rate", "channels"), [(8000, 1), (16000, 2), (44100, 1), (48000, 2)])
def test_streamed_pcm_equals_the_whole_file_pass(model_dir: object, rate: int, channels: int) -> None:
    model = OnnxModel(model_dir)  # type: ignore[arg-type]
    cfg = model.manifest.features
    assert cfg is not None
    audio = _tone(rate, 0.6, channels, rate)
    whole = predict_sequence(model, compute_features(audio.astype(np.float64), rate, cfg), 0)
    rng = np.random.default_rng(rate)
    for sizes in ([1] * 300 + [rate // 100] * 200, rng.integers(1, rate // 5, 200).tolist(), [len(audio)]):
        out = stream_pcm(model, packets_of(audio, rate, sizes), PcmFrontEnd(cfg))
        final = out.predictions[-1]
        assert final.final and len(out.finals()) == 1
        assert np.abs(final.scores - np.array(list(whole.scores.values()))).max() <= 1e-5
        assert out.record is not None and out.record.ended


def _chunk(seq: int, pcm: PcmSamples, *, end: bool = False) -> AdmittedChunk:
    return AdmittedChunk("s", seq, seq == 0, end, np.zeros((0, 40), np.float32), 0, pcm)


def test_the_front_end_state_travels_in_the_record_through_the_codec() -> None:
    model = OnnxModel(AUDIO_MODEL)
    assert model.manifest.features is not None
    fe = PcmFrontEnd(model.manifest.features)
    audio = _tone(44100, 0.3, 2, 0)
    packets = packets_of(audio, 44100, [441] * 40)
    record = None
    for seq, p in enumerate(packets[:-1]):
        res = run_step(model, [_chunk(seq, p)], {"s": record}, policy=GapPolicy.SKIP, now_ms=0, frontend=fe)
        [write] = res.writes
        raw = encode_record(write.record)
        assert raw[4] == FRONTEND_FORMAT_VERSION
        record = decode_record(raw)
        assert record == write.record and record.frontend
    res = run_step(
        model,
        [_chunk(len(packets) - 1, packets[-1], end=True)],
        {"s": record},
        policy=GapPolicy.SKIP,
        now_ms=0,
        frontend=fe,
    )
    direct = stream_pcm(model, packets, fe, stream_id="s")
    assert np.array_equal(res.outcomes[0].predictions[-1].scores, direct.predictions[-1].scores)


def test_records_without_front_end_are_written_and_read_as_before() -> None:
    record = StreamRecord(seq=3, steps_seen=9, chunks=4, tensors={"h": np.ones((1, 8), np.float32)})
    raw = encode_record(record)
    assert raw[4] == FORMAT_VERSION  # byte for byte what earlier releases wrote
    assert decode_record(raw) == record


def test_a_packet_that_changes_the_format_is_refused_and_changes_nothing() -> None:
    model = OnnxModel(AUDIO_MODEL)
    assert model.manifest.features is not None
    fe = PcmFrontEnd(model.manifest.features)
    audio = _tone(8000, 0.2, 1, 1)
    first = PcmSamples(audio[:800, None], 8000, 1, "f32le")
    res = run_step(model, [_chunk(0, first)], {"s": None}, policy=GapPolicy.SKIP, now_ms=0, frontend=fe)
    record = res.writes[0].record
    for other in (
        PcmSamples(audio[800:1600, None], 16000, 1, "f32le"),
        PcmSamples(np.repeat(audio[800:1600, None], 2, axis=1), 8000, 2, "f32le"),
        PcmSamples(audio[800:1600, None], 8000, 1, "s16le"),
        PcmSamples(audio[800:1600, None], 8000, 1, "f32le", segment=True),
    ):
        out = run_step(model, [_chunk(1, other)], {"s": record}, policy=GapPolicy.SKIP, now_ms=0, frontend=fe)
        [o] = out.outcomes
        assert o.decision.outcome is Outcome.REJECT and o.decision.reason is RejectReason.BAD_PCM
        assert o.detail and "first chunk" in o.detail
        assert out.writes == []


def test_a_stream_that_ends_before_its_first_frame_is_refused() -> None:
    model = OnnxModel(AUDIO_MODEL)
    assert model.manifest.features is not None
    fe = PcmFrontEnd(model.manifest.features)
    short = PcmSamples(np.zeros((100, 1), np.float32), 8000, 1, "f32le")
    out = run_step(
        model, [_chunk(0, short, end=True)], {"s": None}, policy=GapPolicy.SKIP, now_ms=0, frontend=fe
    )
    assert out.outcomes[0].decision.reason is RejectReason.BAD_PCM and out.writes == []
