"""What the step needs to know of raw audio: the samples of one chunk, and the port to the front-end that
turns them into model frames.

The front-end itself (mono, streaming resample, log-mel, endpointing) lives outside the core
(``rnnstream.runtime.pcm``); the core only threads its state through the stream's record, so the step stays
pure and any worker continues any PCM stream from Redis.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, eq=False)
class PcmSamples:
    """One chunk of raw audio: float32 ``[n, channels]`` at ``sample_rate``; ``encoding`` is how it travelled
    (``s16le``/``f32le``: part of the stream's format, which may not change mid-stream); ``segment``: cut
    utterances by voice activity."""

    samples: NDArray[np.float32]
    sample_rate: int
    channels: int
    encoding: str
    segment: bool = False


@dataclass(frozen=True, eq=False)
class FedSegment:
    """Frames to run through the model, all of one utterance (or of the whole stream when not segmented).

    ``opens``: a new utterance starts here, from zero state; ``closes``: its final prediction follows these
    frames (they may be empty). ``utterance``: ``(index, start_ms, end_ms)`` in a segmented stream."""

    frames: NDArray[np.float32]
    opens: bool = False
    closes: bool = False
    utterance: tuple[int, int, int] | None = None


@dataclass(frozen=True, eq=False)
class FrontEndOutput:
    """The front-end's answer for one chunk: the segments to run and its new state, or a refusal (the chunk
    does not fit the stream, e.g. its sample rate differs from the stream's; the record stays untouched)."""

    segments: list[FedSegment] = field(default_factory=list)
    state: Mapping[str, np.ndarray] = field(default_factory=dict)
    refusal: str | None = None


class FrontEnd(Protocol):
    """Turns a PCM chunk into model frames, continuing from ``state`` (``None``: the stream's start)."""

    def advance(
        self, pcm: PcmSamples, state: Mapping[str, np.ndarray] | None, *, end: bool
    ) -> FrontEndOutput: ...
