"""Scoring a published model on labelled inputs (``rnnstream eval``, the cell comparison): whole sequences
through ONNX Runtime in padded batches."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from rnnstream.core.batching import pad_chunks
from rnnstream.errors import InputError
from rnnstream.runtime.session import OnnxModel


def model_input(model: OnnxModel, item: object) -> NDArray[np.generic]:
    """An audio file path (audio models) or a text (text models) in model form."""
    m = model.manifest
    if m.task == "audio":
        from rnnstream.features.audio import file_features

        assert m.features is not None
        return file_features(str(item), m.features)
    from rnnstream.features.text import tokenize

    tokens = tokenize(str(item))
    if not tokens:
        raise InputError("the text has no tokens")
    return model.encode(tokens)


def score_items(
    model: OnnxModel, items: Sequence[tuple[object, str]], progress: bool = False, batch: int = 64
) -> tuple[list[int], list[int], int]:
    """Whole-sequence predictions of ``(input, label)`` items: ``(truth, predicted, skipped)``; inputs too
    short for one frame (or without tokens) are skipped and counted."""
    from rich.console import Console
    from rich.progress import track

    labels = model.manifest.labels
    truth: list[int] = []
    predicted: list[int] = []
    skipped = 0
    xs = []
    shown = track(items, description="features", console=Console(stderr=True), disable=not progress)
    for item, label in shown:
        try:
            xs.append(model_input(model, item))
        except InputError:
            skipped += 1
            continue
        truth.append(labels.index(label))
    for i in range(0, len(xs), batch):
        rows = xs[i : i + batch]
        padded, lengths = pad_chunks(rows, 0)
        out = model.run(padded, lengths, model.zero_state(len(rows)))
        predicted.extend(out.last_scores(lengths).argmax(axis=1).tolist())
    return truth, predicted, skipped
