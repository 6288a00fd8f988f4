"""The event wire format: round trips, every reason the codec owns, exact frames, schema files in sync."""

from __future__ import annotations

import base64
import json
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel

from rnnstream.errors import EventError, InputError
from rnnstream.events import (
    DeadLetter,
    DeadLetterReason,
    FramesPayload,
    InputEvent,
    PredictionEvent,
    SourcePosition,
    TokensPayload,
    dead_letter,
    dead_letter_for,
    decode_dead_letter,
    decode_input_event,
    decode_prediction,
    encode_dead_letter,
    encode_input_event,
    encode_prediction,
    event_key,
)
from rnnstream.events.schema_files import SCHEMA_DIR, generated_schemas

ROOT = Path(__file__).resolve().parents[2]
LIMITS = {"max_bytes": 100_000, "max_steps": 50}


def _event(**changes: Any) -> dict[str, Any]:
    """A valid input event as a JSON-ready dict, with ``changes`` applied (``None`` deletes a key)."""
    event: dict[str, Any] = {
        "v": 1,
        "stream_id": "call-42",
        "seq": 3,
        "model": "fsdd-gru",
        "model_version": "3",
        "start": False,
        "end": False,
        "produced_at_ms": 1_764_201_600_000,
        "payload": {"kind": "tokens", "tokens": ["hello", "world"]},
    }
    for key, value in changes.items():
        if value is None:
            event.pop(key, None)
        else:
            event[key] = value
    return event


def _frames(array: np.ndarray, shape: list[int] | None = None) -> dict[str, Any]:
    data = base64.b64encode(np.asarray(array, dtype="<f4").tobytes()).decode()
    return {"kind": "frames", "dtype": "float32", "shape": shape or list(array.shape), "data": data}


def _raw(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def _reason(raw: bytes, **limits: int) -> str:
    with pytest.raises(EventError) as caught:
        decode_input_event(raw, **{**LIMITS, **limits})
    assert str(caught.value)  # every refusal says why in words
    return caught.value.reason


# --- round trips -------------------------------------------------------------------------------------------


def test_frames_event_round_trips_exactly() -> None:
    special = [0.0, -0.0, 1e-45, -3.4028235e38, 3.4028235e38, 1.1754944e-38, np.pi, -1 / 3]
    frames = np.array(special * 5, dtype=np.float32).reshape(10, 4)
    event = InputEvent(
        v=1,
        stream_id="ünï-stream",
        seq=0,
        model="fsdd-gru",
        start=True,
        produced_at_ms=1,
        payload=FramesPayload.from_array(frames),
    )
    decoded = decode_input_event(encode_input_event(event), **LIMITS)
    assert decoded == event
    assert isinstance(decoded.payload, FramesPayload)
    array = decoded.payload.array
    assert array.dtype == np.float32 and array.shape == (10, 4)
    assert array.tobytes() == frames.astype("<f4").tobytes()  # bit for bit, -0.0 and subnormals included
    assert not array.flags.writeable
    assert decoded.steps == 10 and decoded.model_version is None and not decoded.end


def test_frames_payload_is_little_endian_float32_row_major() -> None:
    data = base64.b64encode(struct.pack("<6f", 0.5, -1.0, 2.25, 0.0, 1.0, 3.5)).decode()
    assert data == "AAAAPwAAgL8AABBAAAAAAAAAgD8AAGBA"  # the example in docs/events.md
    payload = {"kind": "frames", "dtype": "float32", "shape": [2, 3], "data": data}
    event = decode_input_event(_raw(_event(payload=payload)), **LIMITS)
    assert isinstance(event.payload, FramesPayload)
    np.testing.assert_array_equal(
        event.payload.array, np.array([[0.5, -1.0, 2.25], [0.0, 1.0, 3.5]], dtype=np.float32)
    )


def test_tokens_event_round_trips_and_defaults_apply() -> None:
    raw = _raw(
        _event(start=None, end=None, model_version=None, payload={"kind": "tokens", "tokens": ["¿qué", "?"]})
    )
    event = decode_input_event(raw, **LIMITS)
    assert (event.start, event.end, event.model_version) == (False, False, None)
    assert isinstance(event.payload, TokensPayload) and event.payload.tokens == ["¿qué", "?"]
    assert decode_input_event(encode_input_event(event), **LIMITS) == event
    assert "¿qué".encode() in encode_input_event(event)  # UTF-8 on the wire, not \\u escapes


def test_prediction_round_trips() -> None:
    prediction = PredictionEvent(
        v=1,
        stream_id="call-42",
        seq=3,
        model="fsdd-gru",
        model_version="3",
        label="7",
        scores={"7": 0.9, "1": 0.1},
        steps_seen=120,
        final=True,
        gap=False,
        produced_at_ms=10,
        predicted_at_ms=12,
    )
    assert decode_prediction(encode_prediction(prediction)) == prediction


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff", DeadLetterReason.NOT_DECODABLE),
        (b'{"v": 1, "scores": {"a": NaN}}', DeadLetterReason.WRONG_SCHEMA),
        (b'{"v": 1}', DeadLetterReason.WRONG_SCHEMA),
    ],
)
def test_a_bad_prediction_is_refused(raw: bytes, reason: DeadLetterReason) -> None:
    with pytest.raises(EventError) as caught:
        decode_prediction(raw)
    assert caught.value.reason == reason


def test_dead_letter_keeps_what_could_be_read() -> None:
    raw = b'{"v": 1, "stream_id": "call-42", "seq": "3", "model": "fsdd-gru"}'
    error = EventError(DeadLetterReason.WRONG_SCHEMA, "seq: Input should be a valid integer")
    source = SourcePosition(topic="rnnstream.input", partition=2, offset=99)
    letter = dead_letter_for(raw, error, at_ms=5, source=source)
    assert (letter.stream_id, letter.seq, letter.model) == ("call-42", None, "fsdd-gru")
    assert letter.original == raw.decode() and letter.original_encoding == "utf-8"
    assert letter.reason == "wrong_schema" and letter.detail == str(error)
    assert decode_dead_letter(encode_dead_letter(letter)) == letter


def test_dead_letter_of_binary_value_is_base64() -> None:
    raw = b"\x00\xff\xfe binary"
    letter = dead_letter(raw, "not_decodable", "not UTF-8", at_ms=5)
    assert letter.original_encoding == "base64" and letter.original_bytes() == raw
    assert (letter.stream_id, letter.seq, letter.model, letter.source) == (None, None, None, None)
    assert decode_dead_letter(encode_dead_letter(letter)) == letter


def test_dead_letter_can_cut_a_huge_original() -> None:
    raw = _raw(_event(stream_id="s-é", payload={"kind": "tokens", "tokens": ["é" * 5000]}))
    letter = dead_letter(raw, DeadLetterReason.OVERSIZED, "too big", at_ms=1, max_original_bytes=1001)
    assert letter.original_truncated and letter.original_encoding == "utf-8"
    assert raw.startswith(letter.original_bytes()) and len(letter.original_bytes()) <= 1001
    assert letter.stream_id == "s-é"  # read from the whole value
    whole = dead_letter(raw, DeadLetterReason.OVERSIZED, "too big", at_ms=1)
    assert not whole.original_truncated and whole.original_bytes() == raw


def test_event_key_is_the_stream_id() -> None:
    assert event_key("call-42") == b"call-42"


# --- every reason the codec owns ---------------------------------------------------------------------------

FINITE = np.ones((3, 4), dtype=np.float32)

BAD_EVENTS: list[tuple[str, bytes, DeadLetterReason]] = [
    ("not utf-8", b'{"v": 1, "stream_id": "\xff"}', DeadLetterReason.NOT_DECODABLE),
    ("not json", b"{v: 1", DeadLetterReason.NOT_DECODABLE),
    ("empty value", b"", DeadLetterReason.NOT_DECODABLE),
    ("json array", b"[1, 2]", DeadLetterReason.WRONG_SCHEMA),
    ("unknown v", _raw(_event(v=2)), DeadLetterReason.WRONG_SCHEMA),
    ("no v", _raw(_event(v=None)), DeadLetterReason.WRONG_SCHEMA),
    ("no stream_id", _raw(_event(stream_id=None)), DeadLetterReason.WRONG_SCHEMA),
    ("empty stream_id", _raw(_event(stream_id="")), DeadLetterReason.WRONG_SCHEMA),
    ("long stream_id", _raw(_event(stream_id="s" * 257)), DeadLetterReason.WRONG_SCHEMA),
    ("seq as string", _raw(_event(seq="3")), DeadLetterReason.WRONG_SCHEMA),
    ("seq as float", _raw(_event(seq=3.0)), DeadLetterReason.WRONG_SCHEMA),
    ("start as string", _raw(_event(start="true")), DeadLetterReason.WRONG_SCHEMA),
    ("unknown field", _raw(_event(ned=True)), DeadLetterReason.WRONG_SCHEMA),
    ("unknown kind", _raw(_event(payload={"kind": "audio", "data": ""})), DeadLetterReason.WRONG_SCHEMA),
    (
        "float64 frames",
        _raw(_event(payload={**_frames(FINITE), "dtype": "float64"})),
        DeadLetterReason.WRONG_SCHEMA,
    ),
    ("3-d shape", _raw(_event(payload=_frames(FINITE, [3, 2, 2]))), DeadLetterReason.WRONG_SCHEMA),
    ("shape mismatch", _raw(_event(payload=_frames(FINITE, [3, 5]))), DeadLetterReason.WRONG_SCHEMA),
    ("not base64", _raw(_event(payload={**_frames(FINITE), "data": "!!!!"})), DeadLetterReason.WRONG_SCHEMA),
    ("zero width", _raw(_event(payload=_frames(np.zeros((0, 0)), [0, 0]))), DeadLetterReason.WRONG_SCHEMA),
    ("negative seq", _raw(_event(seq=-1)), DeadLetterReason.NEGATIVE_SEQ),
    ("no frames", _raw(_event(payload=_frames(np.zeros((0, 4))))), DeadLetterReason.EMPTY),
    ("no tokens", _raw(_event(payload={"kind": "tokens", "tokens": []})), DeadLetterReason.EMPTY),
    ("too many frames", _raw(_event(payload=_frames(np.ones((51, 2))))), DeadLetterReason.OVERSIZED),
    (
        "too many tokens",
        _raw(_event(payload={"kind": "tokens", "tokens": ["a"] * 51})),
        DeadLetterReason.OVERSIZED,
    ),
    ("nan", _raw(_event(payload=_frames(np.array([[1.0, np.nan]])))), DeadLetterReason.NON_FINITE),
    ("+inf", _raw(_event(payload=_frames(np.array([[1.0], [np.inf]])))), DeadLetterReason.NON_FINITE),
    ("-inf", _raw(_event(payload=_frames(np.array([[-np.inf]])))), DeadLetterReason.NON_FINITE),
]


@pytest.mark.parametrize(("raw", "reason"), [case[1:] for case in BAD_EVENTS], ids=[c[0] for c in BAD_EVENTS])
def test_a_bad_event_is_refused_with_its_reason(raw: bytes, reason: DeadLetterReason) -> None:
    assert _reason(raw) == reason


def test_a_value_over_max_bytes_is_oversized_before_parsing() -> None:
    raw = _raw(_event())
    assert _reason(raw, max_bytes=len(raw) - 1) == DeadLetterReason.OVERSIZED
    assert decode_input_event(raw, max_bytes=len(raw), max_steps=2).seq == 3


def test_event_error_is_an_input_error_with_a_reason_from_the_enum() -> None:
    with pytest.raises(InputError) as caught:
        decode_input_event(b"nope", **LIMITS)
    assert isinstance(caught.value, EventError)
    assert DeadLetterReason(caught.value.reason) is DeadLetterReason.NOT_DECODABLE


def test_the_reason_codes_are_the_documented_ones() -> None:
    documented = set(
        re.findall(r"^\| `([a-z_]+)` \| (?:codec|worker) \|", (ROOT / "docs" / "events.md").read_text(), re.M)
    )
    assert documented == {r.value for r in DeadLetterReason}


# --- the published schema --------------------------------------------------------------------------------


def test_schema_files_match_the_models() -> None:
    for name, text in generated_schemas().items():
        path = SCHEMA_DIR / name
        assert path.read_text(encoding="utf-8") == text, (
            f"{path} is out of date: run python -m rnnstream.events.schema_files"
        )
    assert {p.name for p in SCHEMA_DIR.glob("*.json")} == set(generated_schemas())


def test_examples_in_the_docs_decode() -> None:
    text = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", text, re.S)]
    kinds: dict[str, type[BaseModel]] = {
        "payload": InputEvent,
        "scores": PredictionEvent,
        "reason": DeadLetter,
    }
    seen: set[type[BaseModel]] = set()
    for block in blocks:
        model = next((m for key, m in kinds.items() if key in block), None)
        if model is not None:
            model.model_validate_json(json.dumps(block))
            seen.add(model)
    assert seen == set(kinds.values())
