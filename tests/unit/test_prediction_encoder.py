"""The worker's direct prediction encoder writes what the validated path writes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnstream.events import decode_prediction
from rnnstream.events.predictions import PredictionEncoder, prediction_event

LABELS = ["zero", "one", 'quo"te', "ünï\\code"]
stream_ids = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="{}"), min_size=1, max_size=40
)
scores = st.lists(
    st.floats(min_value=-0.5, max_value=1.5, allow_nan=False, width=32), min_size=4, max_size=4
).map(lambda v: np.array(v, dtype=np.float32))


@settings(max_examples=300, deadline=None)
@given(
    stream_id=stream_ids,
    seq=st.integers(0, 2**63 - 1),
    values=scores,
    steps=st.integers(0, 10**9),
    final=st.booleans(),
    gap=st.booleans(),
    produced=st.integers(0, 2**63 - 1),
)
def test_encoded_prediction_equals_the_validated_one(
    stream_id: str, seq: int, values: np.ndarray, steps: int, final: bool, gap: bool, produced: int
) -> None:
    encoder = PredictionEncoder(model="kws/ä", model_version='1"b', labels=LABELS)
    fields = dict(
        stream_id=stream_id,
        seq=seq,
        scores=values,
        steps_seen=steps,
        final=final,
        gap=gap,
        produced_at_ms=produced,
        predicted_at_ms=produced,
    )
    raw = encoder.encode(**fields)  # type: ignore[arg-type]
    expected = prediction_event(model="kws/ä", model_version='1"b', labels=LABELS, **fields)  # type: ignore[arg-type]
    assert decode_prediction(raw) == expected


def encode_scores(scores: np.ndarray) -> bytes:
    encoder = PredictionEncoder(model="m", model_version="1", labels=["a", "b"])
    return encoder.encode(
        stream_id="s",
        seq=0,
        scores=scores,
        steps_seen=1,
        final=False,
        gap=False,
        produced_at_ms=0,
        predicted_at_ms=0,
    )


def test_scores_that_are_not_finite_fail() -> None:
    with pytest.raises(ValueError, match="not finite"):
        encode_scores(np.array([np.nan, 0.5], dtype=np.float32))


def test_a_score_per_label() -> None:
    with pytest.raises(ValueError, match="3 scores for 2 labels"):
        encode_scores(np.zeros(3, dtype=np.float32))
