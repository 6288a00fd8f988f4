"""Admission: an input event that passed the codec's structural checks (a :class:`ChunkEvent`, from v1 or v2),
checked against its model and turned into a core ``AdmittedChunk`` (frames as float32 of the model's width,
tokens as vocabulary ids, or raw PCM for an audio model's front-end)."""

from __future__ import annotations

import numpy as np

from rnnstream.core.pcm import PcmSamples
from rnnstream.core.step import AdmittedChunk
from rnnstream.errors import EventError
from rnnstream.events.chunk_event import ChunkEvent
from rnnstream.events.models import DeadLetterReason
from rnnstream.runtime.session import OnnxModel
from rnnstream.worker.loaded_models import LoadedModels


def admit(event: ChunkEvent, models: LoadedModels) -> tuple[OnnxModel, AdmittedChunk]:
    """The model that serves ``event`` and the chunk in model form; ``EventError`` when it does not fit."""
    model = models.get(event.model, event.model_version)
    data: np.ndarray  # type: ignore[type-arg]
    if event.pcm is not None:
        if model.manifest.task != "audio" or model.manifest.features is None:
            raise EventError(DeadLetterReason.BAD_PCM, f"model {model.name!r} takes tokens, not audio")
        p = event.pcm
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
