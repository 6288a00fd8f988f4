"""``ChunkEvent``: one decoded input chunk, whatever wire format (v1 JSON or v2 binary) it came in.

The worker needs a handful of scalars and the payload; building the pydantic :class:`InputEvent` for that
costs more than the whole v2 decode, so both decoders end in this plain frozen value instead
(``rnnstream.events.codec.decode_event``). It checks nothing itself: a ``ChunkEvent`` that came out of a
decoder passed every structural check, and the encoders check one that a program built by hand.

Exactly one of :attr:`ChunkEvent.frames` (float32 ``[T, F]``, read-only) and :attr:`ChunkEvent.tokens` is
set. Two events are equal when every field is, the frames compared value by value (so an event decoded from
v1 equals the same chunk decoded from v2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from rnnstream.events.models import EVENT_FORMAT_VERSION, FramesPayload, InputEvent, TokensPayload


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class ChunkEvent:
    """One chunk of a stream, decoded: the fields of :class:`InputEvent` with the payload as data."""

    stream_id: str
    seq: int
    model: str
    model_version: str | None = None
    start: bool = False
    end: bool = False
    produced_at_ms: int
    frames: npt.NDArray[np.float32] | None = None
    tokens: tuple[str, ...] | None = None

    @property
    def kind(self) -> Literal["frames", "tokens"]:
        """``"frames"`` or ``"tokens"``: which payload the chunk carries."""
        return "frames" if self.frames is not None else "tokens"

    @property
    def steps(self) -> int:
        """T: frames or tokens in this chunk."""
        if self.frames is not None:
            return int(self.frames.shape[0])
        return len(self.tokens) if self.tokens is not None else 0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChunkEvent):
            return NotImplemented
        if (
            self.stream_id,
            self.seq,
            self.model,
            self.model_version,
            self.start,
            self.end,
            self.produced_at_ms,
            self.tokens,
        ) != (
            other.stream_id,
            other.seq,
            other.model,
            other.model_version,
            other.start,
            other.end,
            other.produced_at_ms,
            other.tokens,
        ):
            return False
        if self.frames is None or other.frames is None:
            return self.frames is None and other.frames is None
        return self.frames.dtype == other.frames.dtype and np.array_equal(self.frames, other.frames)

    @classmethod
    def from_input_event(cls, event: InputEvent) -> ChunkEvent:
        """The chunk of a (validated) v1 event; frames are a read-only view of its decoded bytes."""
        payload = event.payload
        return cls(
            stream_id=event.stream_id,
            seq=event.seq,
            model=event.model,
            model_version=event.model_version,
            start=event.start,
            end=event.end,
            produced_at_ms=event.produced_at_ms,
            frames=payload.array if isinstance(payload, FramesPayload) else None,
            tokens=tuple(payload.tokens) if isinstance(payload, TokensPayload) else None,
        )

    def to_input_event(self) -> InputEvent:
        """The v1 model of this chunk (frames base64-encoded); pydantic's ``ValidationError`` (a
        ``ValueError``) when a field is out of the format's bounds."""
        payload: FramesPayload | TokensPayload
        if (self.frames is None) == (self.tokens is None):
            raise ValueError("a chunk event carries exactly one of frames and tokens")
        if self.frames is not None:
            payload = FramesPayload.from_array(self.frames)
        else:
            payload = TokensPayload(kind="tokens", tokens=list(self.tokens or ()))
        return InputEvent(
            v=EVENT_FORMAT_VERSION,
            stream_id=self.stream_id,
            seq=self.seq,
            model=self.model,
            model_version=self.model_version,
            start=self.start,
            end=self.end,
            produced_at_ms=self.produced_at_ms,
            payload=payload,
        )


# dataclass's frozen __init__ stores each field through object.__setattr__, about 2 µs for the nine fields (a
# fifth of a whole v2 decode); the slots' own descriptors store them in a third of that. The same value, for
# the decoders' hot path; a unit test keeps the parameters equal to the fields.
_new = object.__new__
_slots = ChunkEvent.__dict__
_set_stream_id = _slots["stream_id"].__set__
_set_seq = _slots["seq"].__set__
_set_model = _slots["model"].__set__
_set_model_version = _slots["model_version"].__set__
_set_start = _slots["start"].__set__
_set_end = _slots["end"].__set__
_set_produced_at_ms = _slots["produced_at_ms"].__set__
_set_frames = _slots["frames"].__set__
_set_tokens = _slots["tokens"].__set__


def decoded_chunk_event(
    stream_id: str,
    seq: int,
    model: str,
    model_version: str | None,
    start: bool,
    end: bool,
    produced_at_ms: int,
    frames: npt.NDArray[np.float32] | None,
    tokens: tuple[str, ...] | None,
) -> ChunkEvent:
    """``ChunkEvent(stream_id=..., ...)`` with every field given, built faster (for decoders)."""
    event: ChunkEvent = _new(ChunkEvent)
    _set_stream_id(event, stream_id)
    _set_seq(event, seq)
    _set_model(event, model)
    _set_model_version(event, model_version)
    _set_start(event, start)
    _set_end(event, end)
    _set_produced_at_ms(event, produced_at_ms)
    _set_frames(event, frames)
    _set_tokens(event, tokens)
    return event
