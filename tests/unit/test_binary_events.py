"""The v2 binary input event: round trips, the layout of docs/events.md byte for byte, every malformed class
with its reason, the bounds, the encoder's refusals, v1 and v2 of one chunk decoding equal, dead letters."""

from __future__ import annotations

import dataclasses
import inspect
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
    FramesPayload,
    InputEvent,
    TokensPayload,
    check_key,
    dead_letter,
    decode_binary_event,
    decode_dead_letter,
    decode_event,
    encode_binary_event,
    encode_dead_letter,
    encode_event,
    encode_input_event,
)
from rnnstream.events.binary import HEADER, PRODUCED_AT_OFFSET, is_binary_event
from rnnstream.events.chunk_event import decoded_chunk_event, pcm_data
from rnnstream.events.models import INT64_MAX
from tests.factories import AUDIO, TEXT, V2_HEADER, input_event, v2_value

ROOT = Path(__file__).resolve().parents[2]
LIMITS = {"max_bytes": 100_000, "max_steps": 50}
SPECIAL = [0.0, -0.0, 1e-45, -3.4028235e38, 3.4028235e38, 1.1754944e-38, np.pi, -1 / 3]


def _decode(raw: bytes, **limits: int) -> ChunkEvent:
    return decode_event(raw, **{**LIMITS, **limits})


def _reason(raw: bytes, **limits: int) -> str:
    with pytest.raises(EventError) as caught:
        _decode(raw, **limits)
    assert str(caught.value)  # every refusal says why in words
    return caught.value.reason


# --- round trips -------------------------------------------------------------------------------------------


def test_frames_round_trip_bit_for_bit_as_a_read_only_view() -> None:
    frames = np.array(SPECIAL * 5, dtype=np.float32).reshape(10, 4)
    raw = encode_binary_event(
        stream_id="ünï-stream", seq=7, model=AUDIO, start=True, produced_at_ms=1, frames=frames
    )
    assert is_binary_event(raw) and len(raw) == HEADER.size + len("ünï-stream".encode()) + len(AUDIO) + 160
    event = _decode(raw)
    assert (event.stream_id, event.seq, event.model, event.model_version) == ("ünï-stream", 7, AUDIO, None)
    assert (event.start, event.end, event.produced_at_ms, event.kind, event.steps) == (
        True,
        False,
        1,
        "frames",
        10,
    )
    assert event.frames is not None and event.tokens is None
    assert event.frames.dtype == np.float32 and event.frames.shape == (10, 4)
    assert event.frames.tobytes() == frames.tobytes()  # -0.0 and subnormals included
    assert not event.frames.flags.writeable and not event.frames.flags.owndata  # a view of the value, no copy


def test_frames_from_a_writable_buffer_are_read_only_too() -> None:
    event = _decode(bytearray(v2_value(frames=np.ones((2, 3)))))  # type: ignore[arg-type]
    assert event.frames is not None and not event.frames.flags.writeable


@pytest.mark.parametrize("version", [None, "2", "ünï"])
@pytest.mark.parametrize(("start", "end"), [(False, False), (True, False), (False, True), (True, True)])
def test_tokens_round_trip_with_flags_and_model_version(version: str | None, start: bool, end: bool) -> None:
    tokens = ["¿qué", "", "call", "🙂", "x" * 300]
    raw = encode_binary_event(
        stream_id="chat-7",
        seq=INT64_MAX,
        model=TEXT,
        model_version=version,
        start=start,
        end=end,
        produced_at_ms=INT64_MAX,
        tokens=tokens,
    )
    assert raw[5] == start | end << 1 | (version is not None) << 2
    event = _decode(raw)
    assert event == ChunkEvent(
        stream_id="chat-7",
        seq=INT64_MAX,
        model=TEXT,
        model_version=version,
        start=start,
        end=end,
        produced_at_ms=INT64_MAX,
        tokens=tuple(tokens),
    )
    assert event.kind == "tokens" and event.steps == 5 and event.frames is None


def test_the_encoder_writes_the_documented_layout() -> None:
    """The product's encoder and the tests' hand-packed builder (the docs' table) agree byte for byte."""
    frames = np.arange(6, dtype=np.float32).reshape(2, 3)
    ours = encode_binary_event(
        stream_id="call-42", seq=3, model=AUDIO, model_version="2", end=True, produced_at_ms=9, frames=frames
    )
    assert ours == v2_value("call-42", 3, frames=frames, version="2", start=False, end=True, produced_at_ms=9)
    assert HEADER.format == V2_HEADER.format and HEADER.size == 40
    tokens = encode_binary_event(stream_id="s", seq=0, model="m", produced_at_ms=0, tokens=["ab", "é"])
    assert tokens == (
        b"RNS2\x02\x00\x00\x00" + bytes(8) + bytes(8) + b"\x02\x00\x00\x00" + bytes(4)
        + b"\x01\x00\x01\x00\x00\x00\x00\x00" + b"sm" + b"\x02\x00ab" + b"\x02\x00\xc3\xa9"
    )  # fmt: skip


def test_the_hex_example_in_the_docs_is_what_the_encoder_writes() -> None:
    text = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    block = re.search(r"```text\n# v2 example\n(.*?)```", text, re.S)
    assert block is not None, "docs/events.md lost its v2 hex example"
    documented = bytes.fromhex("".join(line.split("#")[0] for line in block.group(1).splitlines()))
    frames = np.array([[0.5, -1.0, 2.25], [0.0, 1.0, 3.5]], dtype=np.float32)
    raw = encode_binary_event(
        stream_id="call-42", seq=0, model="fsdd-gru", start=True, produced_at_ms=1764201600000, frames=frames
    )
    assert documented == raw
    event = _decode(documented)
    assert event.frames is not None and event.frames.tolist() == frames.tolist()


def test_produced_at_ms_can_be_stamped_in_place() -> None:
    raw = bytearray(encode_binary_event(stream_id="s", seq=1, model="m", produced_at_ms=0, tokens=["a"]))
    struct.pack_into("<q", raw, PRODUCED_AT_OFFSET, 1_764_201_600_123)
    assert _decode(bytes(raw)).produced_at_ms == 1_764_201_600_123


@pytest.mark.parametrize(
    "event",
    [
        input_event("same-chunk", 0, frames=np.array(SPECIAL * 5, dtype=np.float32).reshape(4, 10)),
        input_event("same-chunk", 5, tokens=["¿qué", "", "now"], version="2", end=True),
        input_event("same-chunk", 2, frames=np.ones((1, 40)), version="1", start=True, end=True),
    ],
    ids=["frames", "tokens", "one-frame"],
)
def test_v1_and_v2_of_one_chunk_decode_equal(event: InputEvent) -> None:
    v1, v2 = encode_event(event, 1), encode_event(event, 2)
    assert v1 == encode_input_event(event) and is_binary_event(v2) and not is_binary_event(v1)
    assert _decode(v1) == _decode(v2) == ChunkEvent.from_input_event(event)
    assert _decode(v2).to_input_event() == event  # and back to the pydantic model
    assert encode_event(_decode(v1), 2) == v2 and encode_event(_decode(v2), 1) == v1


def test_chunk_events_differ_when_a_frame_or_field_does() -> None:
    base = _decode(v2_value(frames=np.zeros((2, 3))))
    assert base != _decode(v2_value(frames=np.array([[0, 0, 0], [0, 0, 1]])))
    assert base != _decode(v2_value(frames=np.zeros((3, 2))))
    assert base != dataclasses.replace(base, seq=1) and base != dataclasses.replace(
        base, frames=None, tokens=()
    )
    assert base == dataclasses.replace(base) and base != "not an event"
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.seq = 2  # type: ignore[misc]


def test_the_decoders_fast_constructor_builds_the_same_value() -> None:
    names = [f.name for f in dataclasses.fields(ChunkEvent)]
    assert list(inspect.signature(decoded_chunk_event).parameters) == names
    values: list[Any] = ["s", 1, "m", "v", True, False, 5, None, ("a",), None]
    assert decoded_chunk_event(*values) == ChunkEvent(**dict(zip(names, values, strict=True)))
    pcm = pcm_data(np.array([1, -2], np.int16), 16_000)
    values = ["s", 1, "m", None, False, True, 5, None, None, pcm]
    assert decoded_chunk_event(*values) == ChunkEvent(**dict(zip(names, values, strict=True)))


def test_decode_event_dispatches_on_the_first_bytes() -> None:
    v1 = encode_input_event(input_event("s", 0))
    assert _decode(b" \n\t" + v1) == _decode(v1)  # JSON may start with whitespace
    assert _reason(b"RNS") == DeadLetterReason.NOT_DECODABLE  # too short for the magic: read as (bad) JSON
    assert _reason(b"RNS1" + bytes(60)) == DeadLetterReason.NOT_DECODABLE  # another magic is not v2
    with pytest.raises(EventError) as caught:
        decode_binary_event(b"RNS1" + bytes(60), **LIMITS)  # called directly: the magic is checked
    assert caught.value.reason == DeadLetterReason.WRONG_SCHEMA and "RNS2" in str(caught.value)


def test_check_key_takes_a_chunk_event() -> None:
    event = _decode(v2_value("call-42"))
    check_key(b"call-42", event)
    with pytest.raises(EventError) as caught:
        check_key(b"other", event)
    assert caught.value.reason == DeadLetterReason.KEY_MISMATCH


# --- every malformed class and its reason ------------------------------------------------------------------

FRAMES = np.ones((3, 4), dtype=np.float32)
GOOD_TOKENS = v2_value("s")
GOOD_FRAMES = v2_value("s", frames=FRAMES)

BAD_V2: list[tuple[str, bytes, DeadLetterReason]] = [
    ("magic only", b"RNS2", DeadLetterReason.NOT_DECODABLE),
    ("header cut", GOOD_TOKENS[:39], DeadLetterReason.NOT_DECODABLE),
    ("strings cut", GOOD_TOKENS[:42], DeadLetterReason.NOT_DECODABLE),
    ("frames cut", GOOD_FRAMES[:-1], DeadLetterReason.NOT_DECODABLE),
    ("token length cut", GOOD_TOKENS[:-6], DeadLetterReason.NOT_DECODABLE),
    ("token cut", GOOD_TOKENS[:-1], DeadLetterReason.NOT_DECODABLE),
    ("string length past the end", v2_value("s", stream_id_len=60_000), DeadLetterReason.NOT_DECODABLE),
    ("token length past the end", GOOD_TOKENS[:-7] + b"\xff\xff" + b"entry", DeadLetterReason.NOT_DECODABLE),
    ("frames past the end", v2_value("s", frames=FRAMES, width=5), DeadLetterReason.NOT_DECODABLE),
    ("kind 0", v2_value("s", kind=0), DeadLetterReason.WRONG_SCHEMA),
    ("kind 4", v2_value("s", kind=4), DeadLetterReason.WRONG_SCHEMA),
    ("unknown flag", v2_value("s", flags=0x08), DeadLetterReason.WRONG_SCHEMA),
    ("high flag", v2_value("s", flags=0x81), DeadLetterReason.WRONG_SCHEMA),
    ("reserved a", v2_value("s", reserved_a=1), DeadLetterReason.WRONG_SCHEMA),
    ("reserved b", v2_value("s", reserved_b=256), DeadLetterReason.WRONG_SCHEMA),
    ("frames of width 0", v2_value("s", frames=np.ones((3, 1)), width=0), DeadLetterReason.WRONG_SCHEMA),
    ("tokens with a width", v2_value("s", width=1), DeadLetterReason.WRONG_SCHEMA),
    ("version bytes without the flag", v2_value("s", version="2", flags=0x01), DeadLetterReason.WRONG_SCHEMA),
    ("version flag, no version", v2_value("s", flags=0x05), DeadLetterReason.WRONG_SCHEMA),
    ("trailing byte after tokens", GOOD_TOKENS + b"\x00", DeadLetterReason.WRONG_SCHEMA),
    ("trailing bytes after frames", GOOD_FRAMES + bytes(4), DeadLetterReason.WRONG_SCHEMA),
    ("fewer steps than tokens", v2_value("s", steps=1), DeadLetterReason.WRONG_SCHEMA),
    ("stream_id not utf-8", v2_value(b"s\xff"), DeadLetterReason.WRONG_SCHEMA),
    ("stream_id a lone surrogate", v2_value("\ud800"), DeadLetterReason.WRONG_SCHEMA),
    ("stream_id empty", v2_value(""), DeadLetterReason.WRONG_SCHEMA),
    ("stream_id 257 characters", v2_value("s" * 257), DeadLetterReason.WRONG_SCHEMA),
    ("stream_id with {", v2_value("a{b"), DeadLetterReason.WRONG_SCHEMA),
    ("stream_id with }", v2_value("a}"), DeadLetterReason.WRONG_SCHEMA),
    ("model empty", v2_value("s", model=b""), DeadLetterReason.WRONG_SCHEMA),
    ("model 257 characters", v2_value("s", model="m" * 257), DeadLetterReason.WRONG_SCHEMA),
    ("model not utf-8", v2_value("s", model=b"\xc3"), DeadLetterReason.WRONG_SCHEMA),
    ("model_version 257 characters", v2_value("s", version="9" * 257), DeadLetterReason.WRONG_SCHEMA),
    ("model_version not utf-8", v2_value("s", version=b"\xe2\x82"), DeadLetterReason.WRONG_SCHEMA),
    ("token not utf-8", v2_value("s", tokens=["ok", b"\xff"]), DeadLetterReason.WRONG_SCHEMA),
    ("token a lone surrogate", v2_value("s", tokens=["\udfff"]), DeadLetterReason.WRONG_SCHEMA),
    ("negative produced_at_ms", v2_value("s", produced_at_ms=-1), DeadLetterReason.WRONG_SCHEMA),
    ("negative seq", v2_value("s", -1), DeadLetterReason.NEGATIVE_SEQ),
    ("most negative seq", v2_value("s", -(2**63)), DeadLetterReason.NEGATIVE_SEQ),
    ("no tokens", v2_value("s", tokens=[]), DeadLetterReason.EMPTY),
    ("no frames", v2_value("s", frames=np.ones((0, 4))), DeadLetterReason.EMPTY),
    ("too many tokens", v2_value("s", tokens=["a"] * 51), DeadLetterReason.OVERSIZED),
    ("too many frames", v2_value("s", frames=np.ones((51, 2))), DeadLetterReason.OVERSIZED),
    ("a hostile T, nothing behind it", v2_value("s", tokens=[], steps=2**32 - 1), DeadLetterReason.OVERSIZED),
    ("nan", v2_value("s", frames=np.array([[1.0, np.nan]])), DeadLetterReason.NON_FINITE),
    ("+inf", v2_value("s", frames=np.array([[1.0], [np.inf]])), DeadLetterReason.NON_FINITE),
    ("-inf", v2_value("s", frames=np.array([[-np.inf]])), DeadLetterReason.NON_FINITE),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "reason"), [case[1:] for case in BAD_V2], ids=[c[0] for c in BAD_V2])
def test_a_bad_v2_value_is_refused_with_its_reason(raw: bytes, reason: DeadLetterReason) -> None:
    assert _reason(raw) == reason


def test_details_name_what_is_wrong() -> None:
    def detail(raw: bytes) -> str:
        with pytest.raises(EventError) as caught:
            _decode(raw)
        return str(caught.value)

    assert detail(v2_value("s", kind=7)) == "unknown kind 7 (1: frames, 2: tokens, 3: pcm)"
    assert "0x08" in detail(v2_value("s", flags=0x08)) and "bit 2" in detail(v2_value("s", flags=0x08))
    assert detail(v2_value("s", frames=np.array([[1.0], [2.0], [np.nan]]))) == "frame 2 holds NaN or infinity"
    assert detail(GOOD_TOKENS + b"xy") == "2 bytes follow the 2 tokens (the value must end there)"
    assert "stream_id" in detail(v2_value("a{b}")) and "model" in detail(v2_value("s", model=b""))
    assert "cut short" in detail(GOOD_FRAMES[:-1]) and "token 1" in detail(
        v2_value("s", tokens=["a", b"\xff"])
    )
    assert detail(v2_value("s", -4)) == "seq must be >= 0, got -4"


def test_an_oversized_value_is_refused_before_parsing() -> None:
    raw = v2_value("s", kind=99)  # also a bad header: size is checked first
    assert _reason(raw, max_bytes=len(raw) - 1) == DeadLetterReason.OVERSIZED
    good = v2_value("s")
    assert _decode(good, max_bytes=len(good)).seq == 0


def test_the_bounds_are_v1s() -> None:
    assert _decode(v2_value("é" * 256)).stream_id == "é" * 256  # characters, not bytes
    assert _decode(v2_value("s", model="m" * 256, version="v" * 256)).model_version == "v" * 256
    assert _decode(v2_value("s", tokens=["a"] * 50)).steps == 50
    assert _decode(v2_value("s", frames=np.ones((50, 1)))).steps == 50
    assert _decode(v2_value("s", INT64_MAX, produced_at_ms=0)).seq == INT64_MAX
    for text in ("é" * 256, "a" * 256):  # v1 accepts the same ids
        assert decode_event(encode_event(input_event(text), 1), **LIMITS).stream_id == text


# --- the encoder refuses what v1's model refuses --------------------------------------------------------

ENCODER_REFUSES: list[tuple[str, dict[str, Any]]] = [
    ("neither payload", {}),
    ("both payloads", {"tokens": ["a"], "frames": np.ones((1, 1))}),
    ("tokens and pcm", {"tokens": ["a"], "pcm": pcm_data(np.zeros(1, np.int16), 16_000)}),
    ("1-d frames", {"frames": np.ones(4)}),
    ("3-d frames", {"frames": np.ones((1, 2, 2))}),
    ("zero width", {"frames": np.ones((2, 0))}),
    ("a bare string as tokens", {"tokens": "abc"}),
    ("a token not a string", {"tokens": ["a", 1]}),
    ("a token too long", {"tokens": ["x" * 70_000]}),
    ("a token a lone surrogate", {"tokens": ["\ud800"]}),
    ("empty stream_id", {"stream_id": "", "tokens": ["a"]}),
    ("braces", {"stream_id": "a{b}", "tokens": ["a"]}),
    ("long model", {"model": "m" * 257, "tokens": ["a"]}),
    ("empty model_version", {"model_version": "", "tokens": ["a"]}),
    ("surrogate model", {"model": "\udc80", "tokens": ["a"]}),
    ("negative seq", {"seq": -1, "tokens": ["a"]}),
    ("seq past int64", {"seq": 2**63, "tokens": ["a"]}),
    ("seq a bool", {"seq": True, "tokens": ["a"]}),
    ("seq a float", {"seq": 1.0, "tokens": ["a"]}),
    ("negative produced_at_ms", {"produced_at_ms": -1, "tokens": ["a"]}),
]


@pytest.mark.parametrize("changes", [c[1] for c in ENCODER_REFUSES], ids=[c[0] for c in ENCODER_REFUSES])
def test_the_encoder_refuses_what_the_format_cannot_hold(changes: dict[str, Any]) -> None:
    fields: dict[str, Any] = {"stream_id": "s", "seq": 0, "model": "m", "produced_at_ms": 0, **changes}
    with pytest.raises(ValueError, match=r"."):
        encode_binary_event(**fields)


def test_the_encoder_leaves_the_workers_limits_to_the_worker() -> None:
    """Like v1's models: an empty chunk or NaN frames encode, and the worker dead-letters them."""
    empty = encode_binary_event(stream_id="s", seq=0, model="m", produced_at_ms=0, tokens=[])
    nan = encode_binary_event(stream_id="s", seq=0, model="m", produced_at_ms=0, frames=[[np.nan]])
    assert (_reason(empty), _reason(nan)) == (DeadLetterReason.EMPTY, DeadLetterReason.NON_FINITE)
    assert FramesPayload.from_array([[np.nan]]) and TokensPayload(kind="tokens", tokens=[])


def test_encode_event_knows_two_formats() -> None:
    with pytest.raises(ValueError, match="wire format 3"):
        encode_event(input_event("s"), 3)  # type: ignore[arg-type]


# --- dead letters ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        v2_value("call-42", 9, model=AUDIO, frames=np.array([[np.nan]])),
        v2_value("call-42", 9, model=AUDIO, kind=5),
        v2_value("call-42", 9, model=AUDIO) + b"trailing",
        v2_value("call-42", 9, model=AUDIO)[:-3],
    ],
    ids=["non-finite frames", "unknown kind", "trailing bytes", "cut token"],
)
def test_a_v2_dead_letter_keeps_the_value_and_what_could_be_read(raw: bytes) -> None:
    with pytest.raises(EventError) as caught:
        _decode(raw)
    letter = dead_letter(raw, caught.value.reason, str(caught.value), at_ms=5)
    assert (letter.stream_id, letter.seq, letter.model) == ("call-42", 9, AUDIO)
    assert letter.original_bytes() == raw
    assert decode_dead_letter(encode_dead_letter(letter)) == letter


def test_a_frames_dead_letter_is_base64_and_can_be_cut() -> None:
    raw = v2_value("call-42", 1, frames=np.full((4, 40), -1.5))  # 0xbf bytes: not UTF-8
    letter = dead_letter(raw, DeadLetterReason.GAP, "gap", at_ms=1)
    assert letter.original_encoding == "base64" and letter.original_bytes() == raw
    cut = dead_letter(raw, DeadLetterReason.OVERSIZED, "too big", at_ms=1, max_original_bytes=100)
    assert cut.original_truncated and cut.original_bytes() == raw[:100] and cut.stream_id == "call-42"


def test_fields_are_read_from_every_prefix_of_a_v2_value_without_raising() -> None:
    raw = v2_value("call-42", 3, model=AUDIO, version="2", frames=np.ones((2, 3)))
    for cut in range(len(raw) + 1):
        letter = dead_letter(raw[:cut], DeadLetterReason.NOT_DECODABLE, "cut", at_ms=1)
        assert decode_dead_letter(encode_dead_letter(letter)) == letter
        assert letter.original_bytes() == raw[:cut]
        expected_seq = 3 if cut >= 40 else None
        assert letter.seq == expected_seq
        assert letter.stream_id == ("call-42" if cut >= 47 else None)
        assert letter.model == (AUDIO if cut >= 47 + len(AUDIO) else None)


def test_unreadable_strings_of_a_v2_value_are_none_in_its_dead_letter() -> None:
    letter = dead_letter(v2_value(b"\xff\xfe", model="m" * 300), DeadLetterReason.WRONG_SCHEMA, "x", at_ms=1)
    assert (letter.stream_id, letter.seq, letter.model) == (None, 0, None)
    letter = dead_letter(v2_value("s", stream_id_len=65_535), DeadLetterReason.NOT_DECODABLE, "x", at_ms=1)
    assert (letter.stream_id, letter.model) == (None, None)


# --- round trip, property-based ----------------------------------------------------------------------------

names = st.text(st.characters(exclude_characters="{}", exclude_categories=["Cs"]), min_size=1, max_size=256)


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(
    stream_id=names,
    seq=st.integers(0, INT64_MAX),
    model=names,
    model_version=st.none() | names,
    start=st.booleans(),
    end=st.booleans(),
    produced_at_ms=st.integers(0, INT64_MAX),
    payload=st.one_of(
        st.lists(st.text(st.characters(exclude_categories=["Cs"]), max_size=20), min_size=1, max_size=50),
        st.tuples(st.integers(1, 50), st.integers(1, 8)).flatmap(
            lambda shape: st.lists(
                st.floats(width=32, allow_nan=False, allow_infinity=False),
                min_size=shape[0] * shape[1],
                max_size=shape[0] * shape[1],
            ).map(lambda values: np.array(values, dtype=np.float32).reshape(shape))
        ),
    ),
)
def test_any_valid_chunk_round_trips_in_both_formats(payload: Any, **fields: Any) -> None:
    kind = {"frames": payload} if isinstance(payload, np.ndarray) else {"tokens": tuple(payload)}
    event = ChunkEvent(**fields, **kind)
    v2 = _decode(encode_event(event, 2))
    assert v2 == event == _decode(encode_event(event, 1))
    if v2.frames is not None:
        assert v2.frames.tobytes() == payload.tobytes()  # -0.0 stays -0.0
