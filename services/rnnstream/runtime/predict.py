"""Offline reference predictions: feed one sequence in chunks with carried state.

``rnnstream predict`` is built on this, and the streaming service must reproduce it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from rnnstream.errors import InputError
from rnnstream.runtime.session import OnnxModel, State


@dataclass(frozen=True)
class Prediction:
    """The prediction after the whole sequence."""

    label: str
    scores: dict[str, float]
    steps: int
    chunks: int
    per_chunk: list[NDArray[np.float32]]  # scores after each chunk


def predict_sequence(model: OnnxModel, x: NDArray[np.generic], chunk_steps: int = 0) -> Prediction:
    """Run ``x`` (``[time, ...]`` in model form) in chunks of ``chunk_steps`` (0: all at once)."""
    steps = len(x)
    if steps == 0:
        raise InputError("empty input: nothing to predict")
    if chunk_steps < 0:
        raise InputError("chunk size must be >= 0")
    size = steps if chunk_steps == 0 else chunk_steps
    state: State = model.zero_state(1)
    per_chunk: list[NDArray[np.float32]] = []
    for start in range(0, steps, size):
        chunk = x[start : start + size]
        lengths = np.array([len(chunk)], np.int32)
        out = model.run(chunk[None], lengths, state)
        state = out.state
        per_chunk.append(out.last_scores(lengths)[0])
    final = per_chunk[-1]
    return Prediction(
        label=model.labels[int(np.argmax(final))],
        scores={lab: float(p) for lab, p in zip(model.labels, final, strict=True)},
        steps=steps,
        chunks=len(per_chunk),
        per_chunk=per_chunk,
    )
