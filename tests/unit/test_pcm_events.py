"""Raw PCM audio (``kind`` pcm) in both wire formats: exact round trips (s16le from int16, f32le bit for bit),
mono to 8 channels, 8 to 192 kHz, one sample; every refusal with its reason and the order of the checks, in
v1 and v2; the docs' examples; the producers' helper ``pcm_data`` and the encoders' refusals."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnstream.errors import EventError
from rnnstream.events import (
    ChunkEvent,
    DeadLetterReason,
    InputEvent,
    dead_letter,
    decode_binary_event,
    decode_dead_letter,
    decode_event,
    decode_input_event,
    encode_binary_event,
    encode_dead_letter,
    encode_event,
)
from rnnstream.events.binary import KIND_PCM, PCM_HEADER, is_binary_event
from rnnstream.events.chunk_event import PcmData, pcm_data
from rnnstream.events.models import (
    DEFAULT_MAX_CHUNK_STEPS,
    DEFAULT_MAX_EVENT_BYTES,
    DEFAULT_MAX_PCM_MS,
    PCM_MAX_CHANNELS,
    PCM_MAX_RATE,
    PCM_MIN_RATE,
    PcmPayload,
)
from tests.factories import AUDIO
from tests.poison import V2_PCM_HEADER, encoded, pcm_cases, pcm_doc, v2_pcm_value

ROOT = Path(__file__).resolve().parents[2]
LIMITS = {"max_bytes": 1_000_000, "max_steps": 50}  # max_steps is for frames and tokens, not pcm
SPECIAL = [0.0, -0.0, 1e-45, -1.0, 1.0, 0.999, -3.4028235e38, 3.4028235e38, 1.1754944e-38, np.pi, -1 / 3]


def _chunk(pcm: PcmData, **fields: Any) -> ChunkEvent:
    base: dict[str, Any] = {"stream_id": "mic-1", "seq": 0, "model": AUDIO, "produced_at_ms": 1, **fields}
    return ChunkEvent(**base, pcm=pcm)


def _both(event: ChunkEvent, **limits: int) -> tuple[ChunkEvent, ChunkEvent]:
    """``event`` encoded in v1 and in v2 and decoded again."""
    v1, v2 = encode_event(event, 1), encode_event(event, 2)
    assert not is_binary_event(v1) and is_binary_event(v2)
    return decode_event(v1, **{**LIMITS, **limits}), decode_event(v2, **{**LIMITS, **limits})


def _reason(raw: bytes, **limits: int) -> tuple[str, str]:
    with pytest.raises(EventError) as caught:
        decode_event(raw, **{**LIMITS, **limits})
    assert str(caught.value)  # every refusal says why in words
    return caught.value.reason, str(caught.value)


# --- round trips -------------------------------------------------------------------------------------------


def test_every_int16_value_round_trips_exactly_in_both_formats() -> None:
    ints = np.arange(-32768, 32768, dtype=np.int16)
    event = _chunk(pcm_data(ints, 96_000))
    assert event.kind == "pcm" and event.steps == 65_536 and event.frames is None and event.tokens is None
    v1, v2 = _both(event)
    assert v1 == v2 == event
    for decoded in (v1, v2):
        assert decoded.pcm is not None and decoded.pcm.samples.dtype == np.float32
        assert decoded.pcm.samples.shape == (65_536, 1) and not decoded.pcm.samples.flags.writeable
        assert np.array_equal(decoded.pcm.samples[:, 0] * 32768, ints)  # s / 32768, exact
        assert decoded.pcm.wire_bytes() == ints.astype("<i2").tobytes()
    raw = encode_event(event, 2)
    assert raw.endswith(ints.astype("<i2").tobytes())  # the integers themselves on the wire


def test_f32le_round_trips_bit_for_bit_as_a_view() -> None:
    samples = np.array(SPECIAL * 2, dtype=np.float32).reshape(11, 2)
    event = _chunk(pcm_data(samples, 44_100, encoding="f32le"))
    v1, v2 = _both(event)
    assert v1 == v2 == event
    for decoded in (v1, v2):
        assert decoded.pcm is not None and decoded.pcm.samples.tobytes() == samples.tobytes()  # -0.0 too
    assert v2.pcm is not None and not v2.pcm.samples.flags.owndata  # a view of the value, no copy
    assert not v2.pcm.samples.flags.writeable


@pytest.mark.parametrize("channels", [1, 2, 3, PCM_MAX_CHANNELS])
@pytest.mark.parametrize("rate", [PCM_MIN_RATE, 11_025, 16_000, 22_050, 32_000, 44_100, 48_000, PCM_MAX_RATE])
@pytest.mark.parametrize("encoding", ["s16le", "f32le"])
def test_rates_and_channels_round_trip(encoding: str, rate: int, channels: int) -> None:
    rng = np.random.default_rng(rate + channels)
    n = rate // 100  # 10 ms
    if encoding == "s16le":
        samples: np.ndarray = rng.integers(-32768, 32768, size=(n, channels), dtype=np.int16)
    else:
        samples = rng.uniform(-1, 1, size=(n, channels)).astype(np.float32)
    event = _chunk(pcm_data(samples, rate, encoding=encoding), seq=4, end=True)  # type: ignore[arg-type]
    v1, v2 = _both(event)
    assert v1 == v2 == event
    assert v2.pcm is not None and (v2.pcm.sample_rate, v2.pcm.channels, v2.steps) == (rate, channels, n)
    raw = encode_event(event, 2)
    assert struct.unpack_from("<II", raw, 24) == (n, channels)  # T samples per channel, F channels


@pytest.mark.parametrize("encoding", ["s16le", "f32le"])
@pytest.mark.parametrize("segment", ["none", "vad"])
def test_one_sample_and_the_segment_mode_round_trip(encoding: str, segment: str) -> None:
    one = np.array([7], np.int16) if encoding == "s16le" else np.array([0.25], np.float32)
    pcm = pcm_data(one, 16_000, encoding=encoding, segment=segment)  # type: ignore[arg-type]
    event = _chunk(pcm, model_version="2", start=True)
    v1, v2 = _both(event)
    assert v1 == v2 == event and v2.steps == 1 and v2.pcm is not None and v2.pcm.segment == segment


@pytest.mark.parametrize("channels", [1, 2])
def test_v1_and_v2_of_one_chunk_decode_equal_and_convert_both_ways(channels: int) -> None:
    samples = np.arange(-20, 20, dtype=np.int16).reshape(-1, channels) * 100
    event = _chunk(pcm_data(samples, 16_000, segment="vad"), seq=9)
    v1, v2 = encode_event(event, 1), encode_event(event, 2)
    assert decode_event(v1, **LIMITS) == decode_event(v2, **LIMITS) == event
    model = decode_input_event(v1, **LIMITS)
    assert isinstance(model.payload, PcmPayload) and model.steps == 40 // channels
    assert ChunkEvent.from_input_event(model) == event and event.to_input_event() == model
    assert (
        encode_event(decode_event(v1, **LIMITS), 2) == v2
        and encode_event(decode_event(v2, **LIMITS), 1) == v1
    )
    assert encode_event(model, 2) == v2


def test_the_encoder_writes_the_documented_layout() -> None:
    """The product's encoder and the tests' hand-packed builder (the docs' table) agree byte for byte."""
    stereo = np.array([[1, -1], [300, -300], [32767, -32768]], np.int16)
    ours = encode_binary_event(
        stream_id="s", seq=2, model=AUDIO, produced_at_ms=1_764_201_600_000, pcm=pcm_data(stereo, 22_050)
    )
    assert ours == v2_pcm_value("s", 2, stereo, sample_rate=22_050, start=False)
    assert ours[4] == KIND_PCM == 3 and PCM_HEADER.format == V2_PCM_HEADER.format and PCM_HEADER.size == 8
    floats = np.array([0.5, -0.25], np.float32)
    vad = encode_binary_event(
        stream_id="s",
        seq=0,
        model=AUDIO,
        start=True,
        produced_at_ms=1_764_201_600_000,
        pcm=pcm_data(floats, 8_000, encoding="f32le", segment="vad"),
    )
    assert vad == v2_pcm_value("s", 0, floats, encoding="f32le", sample_rate=8_000, segment_code=1)


def test_the_pcm_examples_in_the_docs_are_what_the_encoders_write() -> None:
    text = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    block = re.search(r"```text\n# v2 pcm example\n(.*?)```", text, re.S)
    assert block is not None, "docs/events.md lost its v2 pcm hex example"
    documented = bytes.fromhex("".join(line.split("#")[0] for line in block.group(1).splitlines()))
    samples = np.array([[0, 16384], [-16384, 32767], [-32768, 1]], np.int16)
    event = ChunkEvent(
        stream_id="mic-7",
        seq=0,
        model="fsdd-gru",
        start=True,
        produced_at_ms=1_764_201_600_000,
        pcm=pcm_data(samples, 16_000),
    )
    assert documented == encode_event(event, 2)
    docs = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", text, re.S)]
    (example,) = [d for d in docs if d.get("payload", {}).get("kind") == "pcm"]
    assert decode_event(json.dumps(example).encode(), **LIMITS) == event == decode_event(documented, **LIMITS)


# --- limits ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("wire_format", [1, 2])
def test_max_pcm_ms_bounds_the_audio_and_max_steps_does_not_apply(wire_format: int) -> None:
    limit = 16_000 * DEFAULT_MAX_PCM_MS // 1000
    at_limit = encode_event(_chunk(pcm_data(np.zeros(limit, np.int16), 16_000)), wire_format)  # type: ignore[arg-type]
    over = encode_event(_chunk(pcm_data(np.zeros(limit + 1, np.int16), 16_000)), wire_format)  # type: ignore[arg-type]
    assert decode_event(at_limit, max_bytes=10**6, max_steps=1).steps == limit
    reason, detail = _reason(over)
    assert reason == DeadLetterReason.OVERSIZED and f"{limit + 1} samples" in detail and str(limit) in detail
    # a custom limit: 250 ms of 44.1 kHz stereo is 11,025 samples per channel
    stereo = np.zeros((11_025, 2), np.int16)
    quarter = encode_event(_chunk(pcm_data(stereo, 44_100)), wire_format)  # type: ignore[arg-type]
    assert decode_event(quarter, **LIMITS, max_pcm_ms=250).steps == 11_025
    assert _reason(quarter, max_pcm_ms=249)[0] == DeadLetterReason.OVERSIZED
    assert (
        _reason(quarter, max_bytes=len(quarter) - 1)[0] == DeadLetterReason.OVERSIZED
    )  # the size limit holds


def test_every_decoder_takes_max_pcm_ms() -> None:
    event = _chunk(pcm_data(np.zeros(81, np.int16), 8_000))  # 10.125 ms at 8 kHz
    v1, v2 = encode_event(event, 1), encode_event(event, 2)
    assert decode_input_event(v1, **LIMITS, max_pcm_ms=11).steps == 81
    assert decode_binary_event(v2, **LIMITS, max_pcm_ms=11).steps == 81
    for decode, raw in ((decode_input_event, v1), (decode_binary_event, v2), (decode_event, v1)):
        with pytest.raises(EventError) as caught:
            decode(raw, **LIMITS, max_pcm_ms=10)  # type: ignore[operator]
        assert caught.value.reason == DeadLetterReason.OVERSIZED


def test_the_limits_are_the_documented_ones() -> None:
    assert (PCM_MIN_RATE, PCM_MAX_RATE, PCM_MAX_CHANNELS, DEFAULT_MAX_PCM_MS) == (8_000, 192_000, 8, 1_000)
    assert DeadLetterReason("bad_pcm") is DeadLetterReason.BAD_PCM


# --- every refusal with its reason -------------------------------------------------------------------------

CASES = pcm_cases("u-")


@pytest.mark.parametrize(("raw", "reason"), [c[2:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_pcm_value_is_refused_with_its_reason(raw: bytes, reason: str) -> None:
    """The poison pills' PCM cases, with the worker's default limits (what the integration test runs)."""
    with pytest.raises(EventError) as caught:
        decode_event(raw, max_bytes=DEFAULT_MAX_EVENT_BYTES, max_steps=DEFAULT_MAX_CHUNK_STEPS)
    assert caught.value.reason == reason and str(caught.value)


def test_every_pcm_reason_is_covered_in_both_formats() -> None:
    reasons: dict[str, set[str]] = {"v1": set(), "v2": set()}
    for name, _, _, reason in CASES:
        reasons["v2" if name.startswith("v2_") else "v1"].add(reason)
    shared = {"bad_pcm", "empty", "oversized", "non_finite", "wrong_schema"}
    assert reasons["v1"] == shared and reasons["v2"] == shared | {"not_decodable"}


def _v1(**changes: Any) -> bytes:
    return encoded(pcm_doc("s", **changes))


def _v2(**changes: Any) -> bytes:
    return v2_pcm_value("s", **changes)


BAD: list[tuple[str, bytes, DeadLetterReason, str]] = [
    # v1: rate and channels first, then the byte count, then empty, oversized, non_finite
    ("v1 rate", _v1(sample_rate=7_999), DeadLetterReason.BAD_PCM, "sample_rate must be 8000 to 192000 Hz, got 7999"),
    ("v1 rate before channels", _v1(sample_rate=0, channels=0), DeadLetterReason.BAD_PCM, "got 0"),
    ("v1 channels", _v1(channels=9, data=bytes(18)), DeadLetterReason.BAD_PCM, "channels must be 1 to 8, got 9"),
    ("v1 channels before bytes", _v1(channels=0, data=b"\x00"), DeadLetterReason.BAD_PCM, "channels must be"),
    ("v1 odd s16le", _v1(data=b"\x00\x01\x02"), DeadLetterReason.BAD_PCM, "odd byte count for s16le with 1 channel(s): 3 bytes"),
    ("v1 odd stereo", _v1(channels=2, data=bytes(6)), DeadLetterReason.BAD_PCM, "not a multiple of 4 (2 bytes per sample × 2 channels)"),
    ("v1 odd f32le", _v1(encoding="f32le", data=bytes(10)), DeadLetterReason.BAD_PCM, "not a multiple of 4"),
    ("v1 odd before oversized", _v1(data=bytes(64_001)), DeadLetterReason.BAD_PCM, "odd byte count"),
    ("v1 empty", _v1(data=b""), DeadLetterReason.EMPTY, "no samples"),
    ("v1 oversized before nan", _v1(encoding="f32le", samples=np.full(16_001, np.nan)), DeadLetterReason.OVERSIZED, "16001"),
    ("v1 nan", _v1(encoding="f32le", samples=[[0, 0], [0, np.nan]], channels=2), DeadLetterReason.NON_FINITE, "sample 1 (channel 1) holds NaN or infinity"),
    ("v1 unknown encoding", _v1(encoding="s24le", data=bytes(3)), DeadLetterReason.WRONG_SCHEMA, "payload"),
    ("v1 channels a bool", _v1(channels=True), DeadLetterReason.WRONG_SCHEMA, "channels"),
    ("v1 no sample_rate", encoded(pcm_doc("s") | {"payload": {"kind": "pcm", "encoding": "s16le", "data": ""}}), DeadLetterReason.WRONG_SCHEMA, "sample_rate"),
    ("v1 unknown field", encoded(pcm_doc("s") | {"payload": {**pcm_doc("s")["payload"], "bits": 16}}), DeadLetterReason.WRONG_SCHEMA, "bits"),
    ("v1 url-safe base64", encoded(pcm_doc("s") | {"payload": {**pcm_doc("s")["payload"], "data": "-_8="}}), DeadLetterReason.WRONG_SCHEMA, "base64"),
    # v2: the PCM header, its codes, rate and channels, empty, oversized, the byte count, non_finite
    ("v2 header cut", _v2(data=b"")[:-1], DeadLetterReason.NOT_DECODABLE, "8-byte PCM header"),
    ("v2 encoding before rate", _v2(encoding_code=9, sample_rate=1), DeadLetterReason.WRONG_SCHEMA, "unknown PCM encoding 9 (1: s16le, 2: f32le)"),
    ("v2 segment", _v2(segment_code=7), DeadLetterReason.WRONG_SCHEMA, "unknown PCM segment 7 (0: none, 1: vad)"),
    ("v2 reserved", _v2(pcm_reserved=0x100), DeadLetterReason.WRONG_SCHEMA, "reserved"),
    ("v2 rate", _v2(sample_rate=192_001), DeadLetterReason.BAD_PCM, "got 192001"),
    ("v2 channels", _v2(samples=np.zeros((1, 9), np.int16)), DeadLetterReason.BAD_PCM, "channels must be 1 to 8, got 9"),
    ("v2 no channels", _v2(width=0), DeadLetterReason.BAD_PCM, "got 0"),
    ("v2 rate before empty", _v2(sample_rate=100, steps=0), DeadLetterReason.BAD_PCM, "sample_rate"),
    ("v2 empty before bytes", _v2(steps=0), DeadLetterReason.EMPTY, "no samples"),
    ("v2 oversized before bytes", _v2(steps=16_001), DeadLetterReason.OVERSIZED, "more than 16000 (1000 ms at 16000 Hz)"),
    ("v2 odd before cut", _v2(data=b"\x00"), DeadLetterReason.BAD_PCM, "odd byte count for s16le with 1 channel(s): 1 bytes"),
    ("v2 odd stereo", _v2(samples=np.zeros((2, 2), np.int16), data=bytes(6)), DeadLetterReason.BAD_PCM, "not a multiple of 4"),
    ("v2 cut", _v2(data=bytes(4)), DeadLetterReason.NOT_DECODABLE, "cut short: 3 s16le samples × 1 channels need 6 bytes"),
    ("v2 f32le cut", _v2(encoding="f32le", samples=np.zeros(3), data=bytes(8)), DeadLetterReason.NOT_DECODABLE, "cut short"),
    ("v2 trailing", _v2(data=bytes(8)), DeadLetterReason.WRONG_SCHEMA, "2 bytes follow the 3 samples × 1 channels"),
    ("v2 nan", _v2(encoding="f32le", samples=[0.0, 1.0, np.inf]), DeadLetterReason.NON_FINITE, "sample 2 (channel 0) holds NaN or infinity"),
    ("v2 kind 3 of tokens", v2_pcm_value("s", data=b"")[:40] + b"\x01sm", DeadLetterReason.NOT_DECODABLE, "cut short"),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "reason", "detail"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_the_checks_come_in_the_documented_order(raw: bytes, reason: DeadLetterReason, detail: str) -> None:
    got, words = _reason(raw)
    assert got == reason and detail in words, words


def test_s16le_samples_are_never_non_finite() -> None:
    raw = _v1(data=b"\xff\x7f\x00\x80\xc0\x7f")  # bit patterns that are NaN as float32 halves
    decoded = decode_event(raw, **LIMITS)
    assert decoded.pcm is not None and np.isfinite(decoded.pcm.samples).all()


def test_a_pcm_dead_letter_keeps_the_value_and_what_could_be_read() -> None:
    raw = v2_pcm_value("call-42", 9, sample_rate=4_000)
    reason, detail = _reason(raw)
    letter = dead_letter(raw, reason, detail, at_ms=5)
    assert (letter.reason, letter.stream_id, letter.seq, letter.model) == ("bad_pcm", "call-42", 9, AUDIO)
    assert letter.original_bytes() == raw and decode_dead_letter(encode_dead_letter(letter)) == letter


# --- the producers' helper and the encoders ----------------------------------------------------------------


def test_pcm_data_takes_mono_or_interleaved_samples_and_copies_them() -> None:
    mono = pcm_data([1, -2, 3], 16_000)  # any integers in the int16 range
    assert (mono.encoding, mono.sample_rate, mono.channels, mono.segment) == ("s16le", 16_000, 1, "none")
    assert (
        mono.samples.shape == (3, 1) and mono.samples.dtype == np.float32 and not mono.samples.flags.writeable
    )
    assert mono.samples[:, 0].tolist() == [1 / 32768, -2 / 32768, 3 / 32768]
    source = np.array([[0.5, -0.5], [0.25, 1.5]], np.float64)
    stereo = pcm_data(source, np.int32(48_000), encoding="f32le", segment="vad")  # type: ignore[arg-type]
    source[0, 0] = 9.0
    assert stereo.channels == 2 and stereo.samples[0].tolist() == [0.5, -0.5] and stereo.sample_rate == 48_000
    assert type(stereo.sample_rate) is int
    assert pcm_data(np.zeros((0, 2), np.int16), 8_000).steps == 0  # empty: the worker's to refuse


PCM_DATA_REFUSES: list[tuple[str, dict[str, Any]]] = [
    ("floats for s16le", {"samples": [0.5]}),
    ("beyond int16", {"samples": np.array([32768], np.int32)}),
    ("below int16", {"samples": [-32769]}),
    ("strings for f32le", {"samples": np.array(["a"]), "encoding": "f32le"}),
    ("3-d", {"samples": np.zeros((2, 2, 2), np.int16)}),
    ("a scalar", {"samples": np.int16(3)}),
    ("no channels", {"samples": np.zeros((4, 0), np.int16)}),
    ("9 channels", {"samples": np.zeros((4, 9), np.int16)}),
    ("rate too low", {"sample_rate": 7_999}),
    ("rate too high", {"sample_rate": 192_001}),
    ("rate a float", {"sample_rate": 16_000.0}),
    ("rate a bool", {"sample_rate": True}),
    ("unknown encoding", {"encoding": "s24le"}),
    ("unknown segment", {"segment": "auto"}),
]


@pytest.mark.parametrize("changes", [c[1] for c in PCM_DATA_REFUSES], ids=[c[0] for c in PCM_DATA_REFUSES])
def test_pcm_data_refuses_what_the_format_cannot_hold(changes: dict[str, Any]) -> None:
    fields: dict[str, Any] = {"samples": np.zeros(4, np.int16), "sample_rate": 16_000, **changes}
    samples, rate = fields.pop("samples"), fields.pop("sample_rate")
    with pytest.raises(ValueError, match=r"."):
        pcm_data(samples, rate, **fields)


def test_s16le_encoding_rounds_and_clips_floats() -> None:
    values = np.array(
        [[1.0], [-1.5], [0.4 / 32768], [0.6 / 32768], [-0.6 / 32768], [2.5 / 32768]], np.float32
    )
    pcm = PcmData("s16le", 16_000, 1, "none", values)  # built by hand, not from int16
    assert np.frombuffer(pcm.wire_bytes(), "<i2").tolist() == [32767, -32768, 0, 1, -1, 2]  # half to even
    decoded = decode_event(encode_event(_chunk(pcm), 2), **LIMITS)
    assert decoded.pcm is not None and (decoded.pcm.samples[:, 0] * 32768).tolist() == [
        32767,
        -32768,
        0,
        1,
        -1,
        2,
    ]


ENCODER_REFUSES: list[tuple[str, Any]] = [
    ("not PcmData", np.zeros((2, 1), np.float32)),
    ("channels differ from the samples", PcmData("s16le", 16_000, 2, "none", np.zeros((2, 1), np.float32))),
    ("1-d samples", PcmData("s16le", 16_000, 1, "none", np.zeros(2, np.float32))),
    ("unknown encoding", PcmData("u8", 16_000, 1, "none", np.zeros((2, 1), np.float32))),  # type: ignore[arg-type]
    ("unknown segment", PcmData("s16le", 16_000, 1, "auto", np.zeros((2, 1), np.float32))),  # type: ignore[arg-type]
    ("rate beyond uint32", PcmData("s16le", 2**32, 1, "none", np.zeros((2, 1), np.float32))),
    ("negative rate", PcmData("s16le", -1, 1, "none", np.zeros((2, 1), np.float32))),
    ("rate a float", PcmData("s16le", 16_000.0, 1, "none", np.zeros((2, 1), np.float32))),  # type: ignore[arg-type]
    ("NaN in s16le", PcmData("s16le", 16_000, 1, "none", np.full((2, 1), np.nan, np.float32))),
]  # fmt: skip


@pytest.mark.parametrize("pcm", [c[1] for c in ENCODER_REFUSES], ids=[c[0] for c in ENCODER_REFUSES])
def test_the_v2_encoder_refuses_what_the_format_cannot_hold(pcm: Any) -> None:
    with pytest.raises(ValueError, match=r"."):
        encode_binary_event(stream_id="s", seq=0, model="m", produced_at_ms=0, pcm=pcm)


def test_the_encoders_leave_the_workers_limits_to_the_worker() -> None:
    """Like frames: a rate out of range, no samples or NaN encode (both formats), and the worker refuses them."""
    zeros = np.zeros((3, 1), np.float32)
    cases = [
        (PcmData("s16le", 4_000, 1, "none", zeros), DeadLetterReason.BAD_PCM),
        (PcmData("s16le", 16_000, 0, "none", np.zeros((3, 0), np.float32)), DeadLetterReason.BAD_PCM),
        (PcmData("f32le", 16_000, 1, "none", np.zeros((0, 1), np.float32)), DeadLetterReason.EMPTY),
        (
            PcmData("f32le", 16_000, 1, "none", np.full((3, 1), np.nan, np.float32)),
            DeadLetterReason.NON_FINITE,
        ),
    ]
    for pcm, reason in cases:
        for wire_format in (1, 2):
            assert _reason(encode_event(_chunk(pcm), wire_format))[0] == reason, (pcm, wire_format)  # type: ignore[arg-type]


def test_a_chunk_event_carries_exactly_one_payload() -> None:
    pcm = pcm_data(np.zeros(2, np.int16), 16_000)
    for extra in ({"tokens": ("a",)}, {"frames": np.zeros((1, 1), np.float32)}):
        event = dataclasses.replace(_chunk(pcm), **extra)
        with pytest.raises(ValueError, match="exactly one"):
            event.to_input_event()
        with pytest.raises(ValueError, match="exactly one"):
            encode_event(event, 2)


def test_chunk_events_and_pcm_data_differ_when_a_field_or_sample_does() -> None:
    base = pcm_data(np.array([[1, 2], [3, 4]], np.int16), 16_000)
    assert base == pcm_data(np.array([[1, 2], [3, 4]], np.int16), 16_000) and base != "pcm"
    for other in (
        pcm_data(np.array([[1, 2], [3, 5]], np.int16), 16_000),
        pcm_data(np.array([[1, 2, 3, 4]], np.int16), 16_000),
        pcm_data(np.array([1, 2, 3, 4], np.int16), 16_000),
        pcm_data(np.array([[1, 2], [3, 4]], np.int16), 16_001),
        pcm_data(np.array([[1, 2], [3, 4]], np.int16), 16_000, segment="vad"),
        pcm_data(np.array([[1, 2], [3, 4]], np.float32) / 32768, 16_000, encoding="f32le"),
    ):
        assert base != other and _chunk(base) != _chunk(other)
    assert _chunk(base) == _chunk(dataclasses.replace(base)) and _chunk(base) != _chunk(base, seq=1)
    assert _chunk(base).kind == "pcm" and _chunk(base).steps == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.sample_rate = 8_000  # type: ignore[misc]


def test_the_v1_model_checks_only_types_and_base64() -> None:
    payload = PcmPayload.model_validate(
        {"kind": "pcm", "encoding": "f32le", "sample_rate": -5, "data": "AAA="}
    )
    assert (payload.channels, payload.segment, payload.pcm_bytes) == (1, "none", b"\x00\x00")
    assert payload.sample_bytes == 4 and payload.steps == 0
    event = InputEvent.model_validate_json(_v1(channels=0))  # a bad channel count is the codec's to refuse
    assert isinstance(event.payload, PcmPayload) and event.steps == 0
    assert base64.b64decode(event.payload.data) == np.array([0, 100, -100], "<i2").tobytes()


# --- round trip, property-based ----------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(
    rate=st.integers(PCM_MIN_RATE, PCM_MAX_RATE),
    shape=st.tuples(st.integers(1, 80), st.integers(1, PCM_MAX_CHANNELS)),
    f32=st.booleans(),
    vad=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_valid_pcm_chunk_round_trips_in_both_formats(
    rate: int, shape: tuple[int, int], f32: bool, vad: bool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    if f32:
        samples: np.ndarray = rng.standard_normal(shape).astype(np.float32) * np.float32(rng.uniform(0, 1e6))
    else:
        samples = rng.integers(-32768, 32768, size=shape, dtype=np.int16)
    pcm = pcm_data(samples, rate, encoding="f32le" if f32 else "s16le", segment="vad" if vad else "none")
    event = _chunk(pcm)
    v1, v2 = _both(event)
    assert v1 == v2 == event
