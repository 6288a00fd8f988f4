"""Events for tests, built one way: valid input events (as models, as Kafka records, as JSON-ready dicts to
damage on purpose, or as v2 binary values whose every header field can be overridden). Every test that needs
an input event takes it from here."""

from __future__ import annotations

import base64
import json
import struct
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from rnnstream.events import FramesPayload, InputEvent, TokensPayload, encode_input_event, event_key

AUDIO, TEXT = "fsdd-digits-lstm", "sms-spam-lstm"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def input_event(
    stream: str,
    seq: int = 0,
    *,
    tokens: list[str] | None = None,
    frames: np.ndarray | None = None,
    model: str | None = None,
    version: str | None = None,
    start: bool | None = None,
    end: bool = False,
    produced_at_ms: int | None = None,
) -> InputEvent:
    """A valid event: tokens for the text model by default, or ``frames`` for the audio model; ``start``
    defaults to ``seq == 0``."""
    payload: FramesPayload | TokensPayload = (
        FramesPayload.from_array(frames)
        if frames is not None
        else TokensPayload(kind="tokens", tokens=tokens if tokens is not None else ["hi"])
    )
    return InputEvent(
        v=1,
        stream_id=stream,
        seq=seq,
        model=model or (AUDIO if frames is not None else TEXT),
        model_version=version,
        start=seq == 0 if start is None else start,
        end=end,
        produced_at_ms=now_ms() if produced_at_ms is None else produced_at_ms,
        payload=payload,
    )


def record(event: InputEvent) -> tuple[bytes, bytes]:
    """The Kafka record of ``event``: ``(key, value)``, the key being the stream id."""
    return event_key(event.stream_id), encode_input_event(event)


def event_record(stream: str, seq: int = 0, **kwargs: Any) -> tuple[bytes, bytes]:
    """:func:`input_event` as a Kafka record."""
    return record(input_event(stream, seq, **kwargs))


def event_doc(stream: str, seq: int = 0, **override: Any) -> dict[str, Any]:
    """A valid text input event as a JSON-ready dict, with ``override`` applied (to damage on purpose)."""
    doc: dict[str, Any] = {
        "v": 1,
        "stream_id": stream,
        "seq": seq,
        "model": TEXT,
        "model_version": None,
        "start": seq == 0,
        "end": False,
        "produced_at_ms": 1_764_201_600_000,
        "payload": {"kind": "tokens", "tokens": ["free", "entry"]},
    }
    doc.update(override)
    return doc


def frames_doc(stream: str, frames: np.ndarray, seq: int = 0, **override: Any) -> dict[str, Any]:
    """A valid audio input event as a JSON-ready dict."""
    array = np.ascontiguousarray(frames, dtype="<f4")
    payload = {
        "kind": "frames",
        "dtype": "float32",
        "shape": list(array.shape),
        "data": base64.b64encode(array.tobytes()).decode(),
    }
    return event_doc(stream, seq, model=AUDIO, payload=payload, **override)


def encoded(doc: dict[str, Any]) -> bytes:
    """A JSON-ready dict as the bytes of a record value."""
    return json.dumps(doc).encode()


def with_raw_field(doc: dict[str, Any], field: str, raw_json: str) -> str:
    """``doc`` as JSON text with the value of ``field`` replaced by ``raw_json`` as it is (for values json.dumps
    won't write, such as a lone surrogate escape or ``NaN``)."""
    marker = "\u2603MARK\u2603"
    text = json.dumps({**doc, field: marker}, ensure_ascii=False)
    return text.replace(json.dumps(marker, ensure_ascii=False), raw_json)


def with_field_twice(doc: dict[str, Any], field: str, raw_json: str) -> str:
    """``doc`` as JSON text with ``field`` written once more, last, with the value ``raw_json``."""
    return json.dumps(doc)[:-1] + f", {json.dumps(field)}: {raw_json}}}"


#: The v2 header exactly as docs/events.md spells it (written out here, not imported, so a change of the
#: product's layout fails the tests).
V2_HEADER = struct.Struct("<4sBBHqqIIHHHH")
V2_FIELDS = (
    "magic",
    "kind",
    "flags",
    "reserved_a",
    "seq",
    "produced_at_ms",
    "steps",
    "width",
    "stream_id_len",
    "model_len",
    "model_version_len",
    "reserved_b",
)


def _utf8(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")


def v2_value(
    stream: str | bytes = "v2-text",
    seq: int = 0,
    *,
    tokens: Sequence[str | bytes] | None = None,
    frames: np.ndarray | None = None,
    model: str | bytes | None = None,
    version: str | bytes | None = None,
    start: bool | None = None,
    end: bool = False,
    produced_at_ms: int = 1_764_201_600_000,
    **header: Any,
) -> bytes:
    """A v2 value packed by hand: tokens for the text model by default (``["free", "entry"]``), or ``frames``
    for the audio model; ``start`` defaults to ``seq == 0``. Strings and tokens may be ``bytes`` (written as
    they are, to damage on purpose), and ``header`` overrides any field of :data:`V2_FIELDS` (``kind=9``,
    ``steps=2**32 - 1``, ...) after the others were computed from the content."""
    names = [_utf8(stream), _utf8(model if model is not None else AUDIO if frames is not None else TEXT)]
    names.append(b"" if version is None else _utf8(version))
    if frames is not None:
        array = np.ascontiguousarray(frames, dtype="<f4")
        kind, (steps, width), payload = 1, array.shape, array.tobytes()
    else:
        items = [_utf8(t) for t in (tokens if tokens is not None else ["free", "entry"])]
        kind, steps, width = 2, len(items), 0
        payload = b"".join(struct.pack("<H", len(t)) + t for t in items)
    flags = (seq == 0 if start is None else start) | end << 1 | (version is not None) << 2
    fields: dict[str, Any] = dict(
        zip(
            V2_FIELDS,
            (b"RNS2", kind, flags, 0, seq, produced_at_ms, steps, width, *map(len, names), 0),
            strict=True,
        )
    )
    unknown = set(header) - set(fields)
    if unknown:
        raise TypeError(f"not v2 header fields: {sorted(unknown)}")
    fields.update(header)
    return V2_HEADER.pack(*fields.values()) + b"".join(names) + payload


def v2_record(stream: str, seq: int = 0, **kwargs: Any) -> tuple[bytes, bytes]:
    """:func:`v2_value` as a Kafka record keyed by its stream id."""
    return stream.encode(), v2_value(stream, seq, **kwargs)
