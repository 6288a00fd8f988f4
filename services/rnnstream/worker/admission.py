"""Admission: an input event that passed the codec's structural checks, checked against its model and
turned into a core ``AdmittedChunk`` (frames as float32 of the model's width, or tokens as vocabulary ids)."""

from __future__ import annotations

import numpy as np

from rnnstream.core.step import AdmittedChunk
from rnnstream.errors import EventError
from rnnstream.events.models import DeadLetterReason, FramesPayload, InputEvent
from rnnstream.runtime.session import OnnxModel
from rnnstream.worker.loaded_models import LoadedModels


def admit(event: InputEvent, models: LoadedModels) -> tuple[OnnxModel, AdmittedChunk]:
    """The model that serves ``event`` and the chunk in model form; ``EventError`` when it does not fit."""
    model = models.get(event.model, event.model_version)
    payload = event.payload
    if model.manifest.task == "audio":
        if not isinstance(payload, FramesPayload):
            raise EventError(DeadLetterReason.WRONG_SCHEMA, f"model {model.name!r} takes frames, not tokens")
        frames = payload.array
        width = model.manifest.feature_width
        if frames.shape[1] != width:
            raise EventError(
                DeadLetterReason.WRONG_FEATURE_WIDTH,
                f"model {model.name!r} takes frames of {width} features, got {frames.shape[1]}",
            )
        data: np.ndarray = frames  # type: ignore[type-arg]
    else:
        if isinstance(payload, FramesPayload):
            raise EventError(DeadLetterReason.WRONG_SCHEMA, f"model {model.name!r} takes tokens, not frames")
        data = model.encode(payload.tokens)
    chunk = AdmittedChunk(event.stream_id, event.seq, event.start, event.end, data, event.produced_at_ms)
    return model, chunk
