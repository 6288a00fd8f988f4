"""Admission: an input event that passed the codec's structural checks (a :class:`ChunkEvent`, from v1 or v2),
checked against its model and turned into a core ``AdmittedChunk`` (frames as float32 of the model's width,
tokens as vocabulary ids, or raw PCM for an audio model's front-end)."""

from __future__ import annotations

import math

import numpy as np

from rnnstream.core.pcm import PcmSamples
from rnnstream.core.step import AdmittedChunk
from rnnstream.errors import EventError
from rnnstream.events.chunk_event import ChunkEvent
from rnnstream.events.models import DeadLetterReason
from rnnstream.runtime.session import OnnxModel
from rnnstream.worker.loaded_models import LoadedModels

#: The largest up- or down-sampling factor (after reducing the ratio) the worker resamples with. Every standard
#: rate has one of at most 441 to 8 kHz (44.1 kHz: 80/441); an odd rate such as 191,999 Hz would need a
#: 3.8-million-tap filter (seconds of CPU and 30 MB to design), so it is refused instead.
MAX_RESAMPLING_FACTOR = 1000


def admit(event: ChunkEvent, models: LoadedModels) -> tuple[OnnxModel, AdmittedChunk]:
    """The model that serves ``event`` and the chunk in model form; ``EventError`` when it does not fit."""
    model = models.get(event.model, event.model_version)
    data: np.ndarray  # type: ignore[type-arg]
    if event.pcm is not None:
        if model.manifest.task != "audio" or model.manifest.features is None:
            raise EventError(DeadLetterReason.BAD_PCM, f"model {model.name!r} takes tokens, not audio")
        p = event.pcm
        rate = model.manifest.features.sample_rate
        g = math.gcd(p.sample_rate, rate)
        if max(p.sample_rate // g, rate // g) > MAX_RESAMPLING_FACTOR:
            raise EventError(
                DeadLetterReason.BAD_PCM,
                f"a sample rate of {p.sample_rate} Hz has no short ratio to the model's {rate} Hz "
                f"({rate // g}/{p.sample_rate // g}; at most {MAX_RESAMPLING_FACTOR} either way): use a standard "
                "rate such as 8000, 11025, 16000, 22050, 32000, 44100, 48000 or 96000 Hz",
            )
        pcm = PcmSamples(p.samples, p.sample_rate, p.channels, p.encoding, p.segment == "vad")
        empty = np.zeros((0, model.manifest.features.n_mels), np.float32)
        chunk = AdmittedChunk(
            event.stream_id, event.seq, event.start, event.end, empty, event.produced_at_ms, pcm
        )
        return model, chunk
    if model.manifest.task == "audio":
        frames = event.frames
        if frames is None:
            raise EventError(DeadLetterReason.WRONG_SCHEMA, f"model {model.name!r} takes frames, not tokens")
        width = model.manifest.feature_width
        if frames.shape[1] != width:
            raise EventError(
                DeadLetterReason.WRONG_FEATURE_WIDTH,
                f"model {model.name!r} takes frames of {width} features, got {frames.shape[1]}",
            )
        data = frames
    else:
        if event.tokens is None:
            raise EventError(DeadLetterReason.WRONG_SCHEMA, f"model {model.name!r} takes tokens, not frames")
        data = model.encode(event.tokens)
    chunk = AdmittedChunk(event.stream_id, event.seq, event.start, event.end, data, event.produced_at_ms)
    return model, chunk
