"""A prediction event from a model's output for one chunk: the one place that turns scores into the wire
form (the worker's processor and the bench's naive pipeline both use it)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from rnnstream.events.models import EVENT_FORMAT_VERSION, PredictionEvent


def prediction_event(
    *,
    stream_id: str,
    seq: int,
    model: str,
    model_version: str,
    labels: Sequence[str],
    scores: NDArray[np.float32],
    steps_seen: int,
    final: bool,
    gap: bool,
    produced_at_ms: int,
    predicted_at_ms: int,
) -> PredictionEvent:
    """The prediction after a chunk: ``label`` is the best of ``labels`` by ``scores`` (probabilities,
    clipped to [0, 1] against float rounding)."""
    best = int(np.argmax(scores))
    return PredictionEvent(
        v=EVENT_FORMAT_VERSION,
        stream_id=stream_id,
        seq=seq,
        model=model,
        model_version=model_version,
        label=labels[best],
        scores={label: min(1.0, max(0.0, float(p))) for label, p in zip(labels, scores, strict=True)},
        steps_seen=steps_seen,
        final=final,
        gap=gap,
        produced_at_ms=produced_at_ms,
        predicted_at_ms=predicted_at_ms,
    )
