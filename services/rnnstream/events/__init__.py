"""The event wire format (JSON, version 1) and its codec.

Input events carry one chunk of a stream (feature frames or tokens); prediction events carry the
prediction after a chunk; dead letters carry an input that could not be processed and why. The Kafka key of
every event is the stream id (:func:`event_key`). Formats: docs/events.md and the JSON Schema files in
``schemas/``.
"""

from __future__ import annotations

from rnnstream.events.codec import (
    check_key,
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
    "EVENT_FORMAT_VERSION",
    "DeadLetter",
    "DeadLetterReason",
    "FramesPayload",
    "InputEvent",
    "Payload",
    "PredictionEvent",
    "SourcePosition",
    "TokensPayload",
    "check_key",
    "dead_letter",
    "dead_letter_for",
    "decode_dead_letter",
    "decode_input_event",
    "decode_prediction",
    "encode_dead_letter",
    "encode_input_event",
    "encode_prediction",
    "event_key",
]
