"""A prediction event from a model's output for one chunk: the one place that turns scores into the wire
form. :func:`prediction_event` builds the validated model (the bench's naive pipeline, tests);
:class:`PredictionEncoder` writes the same JSON directly (the worker's hot path)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import orjson
from numpy.typing import NDArray

from rnnstream.events.models import EVENT_FORMAT_VERSION, PredictionEvent, Utterance


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
    utterance: tuple[int, int, int] | None = None,
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
        utterance=None
        if utterance is None
        else Utterance(index=utterance[0], start_ms=utterance[1], end_ms=utterance[2]),
    )


class PredictionEncoder:
    """The wire bytes of a prediction, written directly: the worker's hot path.

    :func:`prediction_event` validates a :class:`PredictionEvent` built from Python floats; for values the
    worker has just computed that validation proves nothing, and it costs more than the model call per
    chunk. This writes the same JSON object (same fields, same order; a test checks that every output
    validates as a :class:`PredictionEvent` equal to the validated path's) with orjson. The only checks
    left are the ones the values can fail: scores must be finite (a model that returns NaN fails the chunk;
    the batch runner then dead-letters it as ``processing_failed``) and are clipped to [0, 1] against float
    rounding, as :func:`prediction_event` does.
    """

    def __init__(self, *, model: str, model_version: str, labels: Sequence[str]) -> None:
        self.model = model
        self.model_version = model_version
        self.labels = list(labels)

    def encode(
        self,
        *,
        stream_id: str,
        seq: int,
        scores: NDArray[np.float32],
        steps_seen: int,
        final: bool,
        gap: bool,
        produced_at_ms: int,
        predicted_at_ms: int,
        utterance: tuple[int, int, int] | None = None,
    ) -> bytes:
        """One prediction event as compact UTF-8 JSON; raises ``ValueError`` for scores that are not finite."""
        floats: list[float] = scores.tolist()
        if len(floats) != len(self.labels):
            raise ValueError(f"{len(floats)} scores for {len(self.labels)} labels")
        if not all(map(math.isfinite, floats)):
            raise ValueError(f"the model returned scores that are not finite: {floats}")
        best = floats.index(max(floats))
        clipped = [0.0 if p < 0.0 else 1.0 if p > 1.0 else p for p in floats]
        event: dict[str, object] = {
            "v": EVENT_FORMAT_VERSION,
            "stream_id": stream_id,
            "seq": seq,
            "model": self.model,
            "model_version": self.model_version,
            "label": self.labels[best],
            "scores": dict(zip(self.labels, clipped, strict=True)),
            "steps_seen": steps_seen,
            "final": final,
            "gap": gap,
            "produced_at_ms": produced_at_ms,
            "predicted_at_ms": predicted_at_ms,
        }
        if utterance is not None:
            index, start_ms, end_ms = utterance
            event["utterance"] = {"index": index, "start_ms": start_ms, "end_ms": end_ms}
        return orjson.dumps(event)
