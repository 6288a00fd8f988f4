"""The event wire formats and their codec.

Input events carry one chunk of a stream (feature frames or tokens), as JSON (v1) or binary (v2,
``binary``); :func:`decode_event` reads both into a :class:`ChunkEvent`. Prediction events carry the
prediction after a chunk; dead letters carry an input that could not be processed and why (both JSON,
v1). The Kafka key of every event is the stream id (:func:`event_key`). Formats: docs/events.md and the
JSON Schema files in ``schemas/``.
"""

from __future__ import annotations

from rnnstream.events.binary import decode_binary_event, encode_binary_event
from rnnstream.events.chunk_event import ChunkEvent
from rnnstream.events.codec import (
    DEFAULT_WIRE_FORMAT,
    WireFormat,
    check_key,
    dead_letter,
    dead_letter_for,
    decode_dead_letter,
    decode_event,
    decode_input_event,
    decode_prediction,
    encode_dead_letter,
    encode_event,
    encode_input_event,
    encode_prediction,
    event_key,
)
from rnnstream.events.models import (
    EVENT_FORMAT_VERSION,
    DeadLetter,
    DeadLetterReason,
    FramesPayload,
    InputEvent,
    Payload,
    PredictionEvent,
    SourcePosition,
    TokensPayload,
)

__all__ = [
    "DEFAULT_WIRE_FORMAT",
    "EVENT_FORMAT_VERSION",
    "ChunkEvent",
    "DeadLetter",
    "DeadLetterReason",
    "FramesPayload",
    "InputEvent",
    "Payload",
    "PredictionEvent",
    "SourcePosition",
    "TokensPayload",
    "WireFormat",
    "check_key",
    "dead_letter",
    "dead_letter_for",
    "decode_binary_event",
    "decode_dead_letter",
    "decode_event",
    "decode_input_event",
    "decode_prediction",
    "encode_binary_event",
    "encode_dead_letter",
    "encode_event",
    "encode_input_event",
    "encode_prediction",
    "event_key",
]
