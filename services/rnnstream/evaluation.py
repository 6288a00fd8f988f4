"""Classification metrics, computed with numpy (used by training reports and ``rnnstream eval``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray


def confusion_matrix(
    truth: Sequence[int] | NDArray[np.integer], predicted: Sequence[int] | NDArray[np.integer], n_classes: int
) -> list[list[int]]:
    """``m[true][predicted]`` counts."""
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(truth, np.int64), np.asarray(predicted, np.int64)), 1)
    return [[int(v) for v in row] for row in m]


def classification_metrics(
    truth: Sequence[int], predicted: Sequence[int], labels: Sequence[str], positive: str | None = None
) -> dict[str, object]:
    """Accuracy, n, confusion matrix, and precision/recall/F1 of ``positive`` when given."""
    t, p = np.asarray(truth), np.asarray(predicted)
    out: dict[str, object] = {
        "n": len(t),
        "accuracy": float((t == p).mean()) if len(t) else 0.0,
        "labels": list(labels),
        "confusion_matrix": confusion_matrix(t, p, len(labels)),
    }
    if positive is not None:
        k = list(labels).index(positive)
        tp = int(((p == k) & (t == k)).sum())
        fp = int(((p == k) & (t != k)).sum())
        fn = int(((p != k) & (t == k)).sum())
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        out["positive_label"] = positive
        out["precision"] = precision
        out["recall"] = recall
        out["f1"] = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return out
