"""``ChunkEvent``: one decoded input chunk, whatever wire format (v1 JSON or v2 binary) it came in.

The worker needs a handful of scalars and the payload; building the pydantic :class:`InputEvent` for that
costs more than the whole v2 decode, so both decoders end in this plain frozen value instead
(``rnnstream.events.codec.decode_event``). It checks nothing itself: a ``ChunkEvent`` that came out of a
decoder passed every structural check, and the encoders check one that a program built by hand (producers
build PCM audio with :func:`pcm_data`, which refuses what the format cannot hold).

Exactly one of :attr:`ChunkEvent.frames` (float32 ``[T, F]``, read-only), :attr:`ChunkEvent.tokens` and
:attr:`ChunkEvent.pcm` (raw audio, :class:`PcmData`) is set. Two events are equal when every field is, the
frames and samples compared value by value (so an event decoded from v1 equals the same chunk decoded from
v2).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from rnnstream.events.models import (
    EVENT_FORMAT_VERSION,
    PCM_MAX_CHANNELS,
    PCM_MAX_RATE,
    PCM_MIN_RATE,
    PCM_S16_SCALE,
    FramesPayload,
    InputEvent,
    PcmPayload,
    TokensPayload,
    pcm_wire_bytes,
)

PcmEncoding = Literal["s16le", "f32le"]
PcmSegment = Literal["none", "vad"]


@dataclass(frozen=True, slots=True, eq=False)
class PcmData:
    """Raw PCM audio of one chunk: the declared format and the samples, float32 ``[n, channels]``, read-only.

    ``encoding`` is how the samples travel; ``samples`` holds them as float32 either way (an s16le sample
    ``s`` as ``s / 32768``, exact). ``segment`` ``"vad"`` asks the worker to cut utterances by voice activity.
    Two values are equal when every field is, the samples compared value by value.
    """

    encoding: PcmEncoding
    sample_rate: int
    channels: int
    segment: PcmSegment
    samples: npt.NDArray[np.float32]  # [n, channels], read-only; s16le is scaled by 1/32768

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PcmData):
            return NotImplemented
        return (
            (self.encoding, self.sample_rate, self.channels, self.segment)
            == (other.encoding, other.sample_rate, other.channels, other.segment)
            and self.samples.dtype == other.samples.dtype
            and self.samples.shape == other.samples.shape
            and bool(np.array_equal(self.samples, other.samples))
        )

    @property
    def steps(self) -> int:
        """Samples per channel."""
        return int(self.samples.shape[0])

    def wire_bytes(self) -> bytes:
        """The samples as they travel: interleaved little-endian ``encoding`` (s16le: ``x * 32768`` rounded
        and clipped to int16, so samples that came from int16 come back exactly)."""
        return pcm_wire_bytes(self.samples, self.encoding)


def pcm_data(
    samples: npt.ArrayLike,
    sample_rate: int,
    *,
    encoding: PcmEncoding = "s16le",
    segment: PcmSegment = "none",
) -> PcmData:
    """PCM audio for an event, from ``samples`` ``[n]`` (mono) or ``[n, channels]`` (interleaved on the wire).

    For ``s16le`` the samples are integers in the int16 range (an int16 array, typically), stored as
    ``s / 32768`` and sent back as exactly those integers; for ``f32le`` they are floats, stored (and sent) as
    float32. Raises ``ValueError`` for an unknown encoding or segment, a rate outside
    ``PCM_MIN_RATE..PCM_MAX_RATE``, a channel count outside ``1..PCM_MAX_CHANNELS``, samples of another
    shape, float samples for s16le or integers out of the int16 range. An empty chunk or NaN samples are
    left to the worker, which dead-letters them (``empty``, ``non_finite``), as for frames.
    """
    if encoding not in ("s16le", "f32le"):
        raise ValueError(f"encoding must be 's16le' or 'f32le', got {encoding!r}")
    if segment not in ("none", "vad"):
        raise ValueError(f"segment must be 'none' or 'vad', got {segment!r}")
    if type(sample_rate) is not int and not isinstance(sample_rate, np.integer):
        raise ValueError(f"sample_rate must be an integer, got {type(sample_rate).__name__}")
    if not PCM_MIN_RATE <= sample_rate <= PCM_MAX_RATE:
        raise ValueError(f"sample_rate must be {PCM_MIN_RATE} to {PCM_MAX_RATE} Hz, got {sample_rate}")
    array = np.asarray(samples)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise ValueError(f"samples must be [n] or [n, channels], not of shape {array.shape}")
    channels = int(array.shape[1])
    if not 1 <= channels <= PCM_MAX_CHANNELS:
        raise ValueError(f"channels must be 1 to {PCM_MAX_CHANNELS}, got {channels}")
    if encoding == "s16le":
        if array.dtype.kind not in "iu":
            raise ValueError(f"s16le samples must be integers (int16), not {array.dtype}")
        if array.size and (array.min() < -32768 or array.max() > 32767):
            raise ValueError("s16le samples must lie in the int16 range -32768..32767")
        values = array.astype(np.float32) * np.float32(1.0 / PCM_S16_SCALE)
    else:
        if array.dtype.kind not in "fiu":
            raise ValueError(f"f32le samples must be numbers, not {array.dtype}")
        values = np.array(array, dtype=np.float32)  # a copy: the caller's array may change later
    values = np.ascontiguousarray(values)
    values.flags.writeable = False
    return PcmData(encoding, int(sample_rate), channels, segment, values)


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
    pcm: PcmData | None = None

    @property
    def kind(self) -> Literal["frames", "tokens", "pcm"]:
        """``"frames"``, ``"tokens"`` or ``"pcm"``: which payload the chunk carries."""
        if self.frames is not None:
            return "frames"
        return "pcm" if self.pcm is not None else "tokens"

    @property
    def steps(self) -> int:
        """T: frames or tokens in this chunk, or samples per channel of its PCM audio."""
        if self.frames is not None:
            return int(self.frames.shape[0])
        if self.pcm is not None:
            return self.pcm.steps
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
            self.pcm,
        ) != (
            other.stream_id,
            other.seq,
            other.model,
            other.model_version,
            other.start,
            other.end,
            other.produced_at_ms,
            other.tokens,
            other.pcm,
        ):
            return False
        if self.frames is None or other.frames is None:
            return self.frames is None and other.frames is None
        return self.frames.dtype == other.frames.dtype and np.array_equal(self.frames, other.frames)

    @classmethod
    def from_input_event(cls, event: InputEvent) -> ChunkEvent:
        """The chunk of a (validated) v1 event; frames are a read-only view of its decoded bytes. ``ValueError``
        for PCM bytes that are not a whole number of samples × channels (the codec refuses those first)."""
        payload = event.payload
        pcm = None
        if isinstance(payload, PcmPayload):
            pcm = PcmData(
                payload.encoding, payload.sample_rate, payload.channels, payload.segment, payload.samples
            )
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
            pcm=pcm,
        )

    def to_input_event(self) -> InputEvent:
        """The v1 model of this chunk (frames and samples base64-encoded); pydantic's ``ValidationError`` (a
        ``ValueError``) when a field is out of the format's bounds."""
        payload: FramesPayload | TokensPayload | PcmPayload
        if (self.frames is not None) + (self.tokens is not None) + (self.pcm is not None) != 1:
            raise ValueError("a chunk event carries exactly one of frames, tokens and pcm")
        if self.frames is not None:
            payload = FramesPayload.from_array(self.frames)
        elif self.pcm is not None:
            pcm = self.pcm
            payload = PcmPayload(
                kind="pcm",
                encoding=pcm.encoding,
                sample_rate=pcm.sample_rate,
                channels=pcm.channels,
                segment=pcm.segment,
                data=base64.b64encode(pcm.wire_bytes()).decode("ascii"),
            )
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


# dataclass's frozen __init__ stores each field through object.__setattr__, about 2 µs for the ten fields (a
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
_set_pcm = _slots["pcm"].__set__


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
    pcm: PcmData | None = None,
) -> ChunkEvent:
    """``ChunkEvent(stream_id=..., ...)`` with every field given (``pcm`` may be left out: ``None``), built
    faster (for decoders)."""
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
    _set_pcm(event, pcm)
    return event
