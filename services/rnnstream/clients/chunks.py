"""What sources hand to the publisher: chunks of one stream, and the stream they belong to.

A source is lazy: :attr:`StreamSource.open` returns an iterator that computes each chunk when asked, so a
long recording is read, featurised and sent piece by piece. The publisher stamps ``produced_at_ms`` when it
sends a chunk (:meth:`Chunk.to_event`), not when the chunk was computed. A chunk holds its frames as an array,
its tokens, or raw PCM audio (:class:`~rnnstream.events.chunk_event.PcmData`); the producer encodes them in
its wire format.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from rnnstream.clients.target import ModelTarget
from rnnstream.events import ChunkEvent
from rnnstream.events.chunk_event import PcmData

#: Longest stream id the wire format allows.
MAX_STREAM_ID = 256


@dataclass(frozen=True, eq=False)
class Chunk:
    """One chunk of a stream, ready to become an input event: ``frames`` (float32 ``[T, F]``), ``tokens`` or
    ``pcm`` (raw audio samples).

    ``due_s`` is when, counted from the stream's start, the chunk may be sent when pacing (audio: the media
    time at the end of its last frame or sample; text: ``seq`` times the token interval).
    """

    stream_id: str
    seq: int
    start: bool
    end: bool
    frames: npt.NDArray[np.float32] | None = None
    tokens: tuple[str, ...] | None = None
    due_s: float = 0.0
    pcm: PcmData | None = None

    @property
    def steps(self) -> int:
        """Frames or tokens in the chunk, or samples per channel of its PCM audio."""
        if self.frames is not None:
            return int(self.frames.shape[0])
        if self.pcm is not None:
            return self.pcm.steps
        return len(self.tokens or ())

    @property
    def audio_s(self) -> float | None:
        """Seconds of audio in a PCM chunk (``None`` for frames and tokens)."""
        return self.pcm.steps / self.pcm.sample_rate if self.pcm is not None else None

    def to_event(self, target: ModelTarget, produced_at_ms: int | None = None) -> ChunkEvent:
        """The input event for ``target``, stamped with ``produced_at_ms`` (default: now)."""
        return ChunkEvent(
            stream_id=self.stream_id,
            seq=self.seq,
            model=target.name,
            model_version=target.version,
            start=self.start,
            end=self.end,
            produced_at_ms=now_ms() if produced_at_ms is None else produced_at_ms,
            frames=self.frames,
            tokens=self.tokens,
            pcm=self.pcm,
        )


@dataclass(frozen=True)
class StreamSource:
    """A stream waiting to be produced: its id, what it comes from, and how to compute its chunks.

    ``open()`` may raise :class:`~rnnstream.errors.InputError` while iterating (unreadable file, too short,
    no tokens); the publisher then reports that stream as failed and goes on with the others.
    """

    stream_id: str
    label: str
    open: Callable[[], Iterator[Chunk]]
    duration_s: float | None = None
    extra: dict[str, Any] | None = None


@dataclass
class StreamReport:
    """What was produced for one stream."""

    stream_id: str
    label: str
    chunks: int = 0
    steps: int = 0
    error: str | None = None
    extra: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """Whether the whole stream, end chunk included, was handed to the producer."""
        return self.error is None


def now_ms() -> int:
    """Wall-clock milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000


def new_stream_id(prefix: str) -> str:
    """``<prefix>-<6 random hex digits>``, the prefix cut so the id fits the wire format."""
    suffix = secrets.token_hex(3)
    return f"{prefix[: MAX_STREAM_ID - len(suffix) - 1]}-{suffix}"
