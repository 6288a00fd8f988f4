"""Admission: an input event that passed the codec's structural checks (a :class:`ChunkEvent`, from v1 or v2),
checked against its model and turned into a core ``AdmittedChunk`` (frames as float32 of the model's width, or
tokens as vocabulary ids)."""

from __future__ import annotations

import numpy as np

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
