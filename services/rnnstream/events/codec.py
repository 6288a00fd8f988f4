"""Bytes to events and back, with the structural checks that need no model knowledge.

Input events come in two wire formats: v1, a UTF-8 JSON object (hand-written with kcat, say), and v2, a
binary layout that starts with ``b"RNS2"`` (``rnnstream.events.binary``). :func:`decode_event` reads either
by its first bytes and returns the lean :class:`ChunkEvent` the worker uses; :func:`decode_input_event`
reads v1 only, into the pydantic :class:`InputEvent`. Both either return a valid event or raise
:class:`EventError` whose ``reason`` is a :class:`DeadLetterReason`; :func:`check_key` then checks the Kafka
key against the event's stream id. :func:`dead_letter` turns such a failure into the dead-letter event
(JSON, v1, whatever the input's format), keeping whatever identifying fields could still be read (and only
values that encode: a dead letter must never fail to publish).

JSON is read strictly: an object that names a field twice is refused (``duplicate_field``) rather than
letting the last one win, so ``"end"`` or ``"stream_id"`` cannot be smuggled in twice. Checks that need the model repository or
the stream's state (feature width, unknown model or version, gaps, chunks after the end, a PCM format that
differs from the stream's first packet) happen later; their reasons are defined in :class:`DeadLetterReason`
too.

A pcm payload (raw audio) is checked in the same order in both formats once its fields are read: the rate
and channel count in range (``bad_pcm``), the bytes a whole number of samples × channels (``bad_pcm``), at
least one sample (``empty``), at most ``max_pcm_ms`` of audio (``oversized``; ``max_steps`` is for frames
and tokens), f32le samples finite (``non_finite``). v2 checks the byte count against the T it declares after
``empty`` and ``oversized`` (``rnnstream.events.binary``).
"""

from __future__ import annotations

import base64
import codecs
import json
from typing import Any, Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from rnnstream.errors import EventError
from rnnstream.events import binary
from rnnstream.events.chunk_event import ChunkEvent
from rnnstream.events.models import (
    DEFAULT_MAX_PCM_MS,
    EVENT_FORMAT_VERSION,
    INT64_MAX,
    DeadLetter,
    DeadLetterReason,
    FramesPayload,
    InputEvent,
    PcmPayload,
    PredictionEvent,
    SourcePosition,
)

_M = TypeVar("_M", bound=BaseModel)

#: The wire format of an input event: 1 (JSON) or 2 (binary, ``rnnstream.events.binary``).
WireFormat = Literal[1, 2]
#: What producers write unless told otherwise.
DEFAULT_WIRE_FORMAT: WireFormat = 2


def event_key(stream_id: str) -> bytes:
    """The Kafka key of every event of a stream: its id in UTF-8 (keeps a stream on one partition)."""
    return stream_id.encode("utf-8")


def _describe(errors: list[ErrorDetails], *, limit: int = 3) -> str:
    parts = []
    for error in errors[:limit]:
        where = ".".join(str(p) for p in error["loc"]) or "value"
        parts.append(f"{where}: {error['msg']}")
    more = f" (and {len(errors) - limit} more)" if len(errors) > limit else ""
    return "; ".join(parts) + more


def _classify(exc: ValidationError, what: str) -> EventError:
    errors = exc.errors(include_url=False)
    if any(e["type"] == "json_invalid" for e in errors):
        return EventError(DeadLetterReason.NOT_DECODABLE, f"not JSON: {errors[0]['msg']}")
    if any(e["loc"] == () and e["type"] == "model_type" for e in errors):
        return EventError(DeadLetterReason.WRONG_SCHEMA, f"{what} must be a JSON object")
    version = next((e for e in errors if e["loc"] == ("v",)), None)
    if version is not None:
        got = "missing" if version["type"] == "missing" else f"v={version['input']!r}"
        return EventError(
            DeadLetterReason.WRONG_SCHEMA, f"unsupported format version ({got}); this reader knows v=1"
        )
    if all(e["loc"] == ("seq",) and e["type"] == "greater_than_equal" for e in errors):
        return EventError(DeadLetterReason.NEGATIVE_SEQ, f"seq must be >= 0, got {errors[0]['input']}")
    return EventError(DeadLetterReason.WRONG_SCHEMA, f"{what} does not match its schema: {_describe(errors)}")


class _DuplicateField(ValueError):
    pass


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, value in pairs:
        if name in found:
            raise _DuplicateField(name)
        found[name] = value
    return found


def _check_unique_fields(text: str, what: str) -> None:
    # Only for text that already validated: pydantic's parser keeps the last of two equal names.
    try:
        json.loads(text, object_pairs_hook=_refuse_duplicates)
    except _DuplicateField as exc:
        raise EventError(
            DeadLetterReason.DUPLICATE_FIELD, f"{what} names the field {str(exc)!r} more than once"
        ) from exc
    except (ValueError, RecursionError) as exc:  # cannot happen for text pydantic parsed; never crash
        raise EventError(DeadLetterReason.NOT_DECODABLE, f"not JSON: {exc}") from exc


def _decode(model: type[_M], raw: bytes, what: str, *, unique_fields: bool = False) -> _M:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EventError(DeadLetterReason.NOT_DECODABLE, f"not UTF-8 (byte {exc.start})") from exc
    try:
        event = model.model_validate_json(text)
    except ValidationError as exc:
        raise _classify(exc, what) from exc
    if unique_fields:
        _check_unique_fields(text, what)
    return event


def decode_input_event(
    raw: bytes, *, max_bytes: int, max_steps: int, max_pcm_ms: int = DEFAULT_MAX_PCM_MS
) -> InputEvent:
    """Decode and structurally validate one input event.

    Raises :class:`EventError` with reason ``oversized`` (more than ``max_bytes`` bytes, more than
    ``max_steps`` frames or tokens, more than ``max_pcm_ms`` of PCM audio), ``not_decodable``,
    ``wrong_schema``, ``duplicate_field``, ``negative_seq``, ``bad_pcm``, ``empty`` or ``non_finite``.
    """
    if len(raw) > max_bytes:
        raise EventError(DeadLetterReason.OVERSIZED, f"the value has {len(raw)} bytes, more than {max_bytes}")
    event = _decode(InputEvent, raw, "the input event", unique_fields=True)
    if isinstance(event.payload, PcmPayload):
        _check_pcm(event.payload, max_pcm_ms)
        return event
    steps = event.steps
    kind = event.payload.kind
    if steps == 0:
        raise EventError(DeadLetterReason.EMPTY, f"the {kind} payload holds no steps")
    if steps > max_steps:
        raise EventError(
            DeadLetterReason.OVERSIZED, f"the {kind} payload holds {steps} steps, more than {max_steps}"
        )
    if isinstance(event.payload, FramesPayload):
        finite = np.isfinite(event.payload.array)
        if not finite.all():
            row = int(np.argwhere(~finite)[0][0])
            raise EventError(DeadLetterReason.NON_FINITE, f"frame {row} holds NaN or infinity")
    return event


def _check_pcm(payload: PcmPayload, max_pcm_ms: int) -> None:
    binary.check_pcm_format(payload.sample_rate, payload.channels)
    odd = binary.odd_pcm_byte_count(len(payload.pcm_bytes), payload.encoding, payload.channels)
    if odd is not None:
        raise odd
    binary.check_pcm_samples(payload.steps, payload.sample_rate, max_pcm_ms)
    if payload.encoding == "f32le":
        binary.finite_pcm(payload.samples)


def decode_event(
    raw: bytes, *, max_bytes: int, max_steps: int, max_pcm_ms: int = DEFAULT_MAX_PCM_MS
) -> ChunkEvent:
    """Decode and structurally validate one input event in either wire format, chosen by its first bytes:
    ``b"RNS2"`` is v2 (:func:`rnnstream.events.binary.decode_binary_event`), anything else v1 JSON
    (:func:`decode_input_event`). Raises :class:`EventError` with the same reasons as those two."""
    if raw[:4] == binary.MAGIC:
        return binary.decode_binary_event(
            raw, max_bytes=max_bytes, max_steps=max_steps, max_pcm_ms=max_pcm_ms
        )
    return ChunkEvent.from_input_event(
        decode_input_event(raw, max_bytes=max_bytes, max_steps=max_steps, max_pcm_ms=max_pcm_ms)
    )


def encode_event(event: ChunkEvent | InputEvent, wire_format: WireFormat = DEFAULT_WIRE_FORMAT) -> bytes:
    """The wire form of an input event in ``wire_format``. Raises ``ValueError`` when a field is out of the
    format's bounds (see :func:`rnnstream.events.binary.encode_binary_event`)."""
    if wire_format == 1:
        return encode_input_event(event if isinstance(event, InputEvent) else event.to_input_event())
    if wire_format != 2:
        raise ValueError(f"unknown wire format {wire_format!r} (1: JSON, 2: binary)")
    chunk = ChunkEvent.from_input_event(event) if isinstance(event, InputEvent) else event
    return binary.encode_chunk_event(chunk)


def check_key(key: bytes | None, event: InputEvent | ChunkEvent) -> None:
    """The Kafka key must be the event's stream id in UTF-8: it decides the partition, and so the worker,
    while the stream id decides the state. Raises :class:`EventError` (``missing_key``, ``key_mismatch``)."""
    if key is None:
        raise EventError(
            DeadLetterReason.MISSING_KEY,
            f"the record has no key; it must be the stream id {event.stream_id!r}",
        )
    if key != event_key(event.stream_id):
        raise EventError(
            DeadLetterReason.KEY_MISMATCH,
            f"the record key {_printable_key(key)} is not the stream id {event.stream_id!r} in UTF-8",
        )


def _printable_key(key: bytes, limit: int = 64) -> str:
    try:
        text = key.decode("utf-8")
    except UnicodeDecodeError:
        return f"(not UTF-8, {len(key)} bytes: {key[:limit].hex()})"
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


def _encode(event: BaseModel) -> bytes:
    return event.model_dump_json().encode("utf-8")


def encode_input_event(event: InputEvent) -> bytes:
    """The wire form of an input event (compact UTF-8 JSON)."""
    return _encode(event)


def encode_prediction(event: PredictionEvent) -> bytes:
    """The wire form of a prediction event (compact UTF-8 JSON; ``utterance`` only when it has one, as the
    worker writes it)."""
    if event.utterance is None:
        return event.model_dump_json(exclude={"utterance"}).encode("utf-8")
    return _encode(event)


def decode_prediction(raw: bytes) -> PredictionEvent:
    """Decode a prediction event; raises :class:`EventError` (``not_decodable`` or ``wrong_schema``)."""
    return _decode(PredictionEvent, raw, "the prediction event")


def encode_dead_letter(letter: DeadLetter) -> bytes:
    """The wire form of a dead letter (compact UTF-8 JSON)."""
    return _encode(letter)


def decode_dead_letter(raw: bytes) -> DeadLetter:
    """Decode a dead letter; raises :class:`EventError` (``not_decodable`` or ``wrong_schema``)."""
    return _decode(DeadLetter, raw, "the dead letter")


def _readable_fields(raw: bytes) -> dict[str, Any]:
    """``stream_id``, ``seq`` and ``model`` from a value that may be broken, each ``None`` when unreadable."""
    if binary.is_binary_event(raw):
        return binary.readable_fields(raw)
    found: dict[str, Any] = {"stream_id": None, "seq": None, "model": None}
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return found
    if not isinstance(value, dict):
        return found
    for name in ("stream_id", "model"):
        field = value.get(name)
        if isinstance(field, str) and 0 < len(field) <= 256 and _encodes(field):
            found[name] = field
    seq = value.get("seq")
    if isinstance(seq, int) and not isinstance(seq, bool) and -INT64_MAX - 1 <= seq <= INT64_MAX:
        found["seq"] = seq
    return found


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def safe_text(text: str) -> str:
    """``text`` with anything that does not encode as UTF-8 (lone surrogates) escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def dead_letter(
    raw: bytes,
    reason: DeadLetterReason | str,
    detail: str,
    *,
    at_ms: int,
    source: SourcePosition | None = None,
    max_original_bytes: int | None = None,
) -> DeadLetter:
    """The dead letter for ``raw``: the reason, the original value and whatever fields could be read.

    ``max_original_bytes`` cuts a huge original (an ``oversized`` value would not fit the dead-letter topic
    either); ``original_truncated`` then says so.
    """
    kept = raw if max_original_bytes is None else raw[:max_original_bytes]
    encoding: Literal["utf-8", "base64"] = "utf-8"
    try:
        # not final: a cut in the middle of a character drops that character, not the whole text
        original = codecs.getincrementaldecoder("utf-8")().decode(kept, final=len(kept) == len(raw))
    except UnicodeDecodeError:
        original, encoding = base64.b64encode(kept).decode("ascii"), "base64"
    return DeadLetter(
        v=EVENT_FORMAT_VERSION,
        reason=DeadLetterReason(reason),
        detail=safe_text(detail),
        original=original,
        original_encoding=encoding,
        original_truncated=len(kept) < len(raw),
        source=source,
        at_ms=at_ms,
        **_readable_fields(raw),
    )


def dead_letter_for(
    raw: bytes,
    error: EventError,
    *,
    at_ms: int,
    source: SourcePosition | None = None,
    max_original_bytes: int | None = None,
) -> DeadLetter:
    """:func:`dead_letter` for an :class:`EventError` raised while handling ``raw``."""
    return dead_letter(
        raw, error.reason, str(error), at_ms=at_ms, source=source, max_original_bytes=max_original_bytes
    )
