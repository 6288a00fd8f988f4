"""The floor pipeline's record: the fields the bench's prediction consumer times, for either wire format,
never final; a malformed event is refused as the worker refuses it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnstream.bench.floor import floor_record
from rnnstream.errors import EventError
from rnnstream.events import encode_binary_event, encode_input_event
from rnnstream.events.models import FramesPayload, InputEvent


def _frames() -> np.ndarray:
    return np.arange(20, dtype=np.float32).reshape(2, 10)


def _v2() -> bytes:
    return encode_binary_event(
        stream_id="s-7", seq=3, model="m", start=False, end=True, produced_at_ms=1234, frames=_frames()
    )


def test_a_v2_event_becomes_its_stream_seq_and_stamp_never_final() -> None:
    key, value = floor_record(_v2())
    assert key == b"s-7"
    assert json.loads(value) == {"stream_id": "s-7", "seq": 3, "produced_at_ms": 1234, "final": False}


def test_a_v1_event_gives_the_same_record() -> None:
    event = InputEvent(
        v=1,
        stream_id="s-7",
        seq=3,
        model="m",
        start=False,
        end=True,
        produced_at_ms=1234,
        payload=FramesPayload.from_array(_frames()),
    )
    assert floor_record(encode_input_event(event)) == floor_record(_v2())


def test_a_malformed_event_is_refused() -> None:
    with pytest.raises(EventError):
        floor_record(b"RNS2 not an event")
