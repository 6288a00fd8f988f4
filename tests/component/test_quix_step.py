"""The quix pipeline's per-message step (``rnnstream.bench.quix_app.RnnStep``) with a dict for Quix's state
store: a stream chunked through it ends where the whole sequence does, through its JSON state; a redelivered
chunk yields nothing; the last chunk deletes the stream's state. Needs the peer extra (Quix Streams)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

pytest.importorskip("quixstreams")

from rnnstream.bench.quix_app import STATE_KEY, RnnStep, decode
from rnnstream.events import decode_prediction, encode_input_event
from rnnstream.runtime.predict import predict_sequence
from rnnstream.worker.loaded_models import LoadedModels
from tests.factories import input_event
from tests.paths import REPOSITORY


class DictState:
    """The part of Quix's ``State`` the step uses, over a dict; values go through JSON as in RocksDB."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.ttls: list[timedelta | None] = []

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(self.values[key]) if key in self.values else default

    def set(self, key: str, value: Any, ttl: timedelta | None = None) -> None:
        self.values[key] = json.dumps(value)
        self.ttls.append(ttl)

    def delete(self, key: str) -> None:
        self.values.pop(key, None)


@pytest.fixture(scope="module")
def models() -> LoadedModels:
    return LoadedModels.load(REPOSITORY, [("fsdd-digits-lstm", None)])


def test_a_chunked_stream_ends_where_the_whole_sequence_does(models: LoadedModels) -> None:
    model = models.get("fsdd-digits-lstm", None)
    frames = (np.random.default_rng(3).standard_normal((37, 40)) - 6).astype(np.float32)
    pieces = [frames[i : i + 10] for i in range(0, len(frames), 10)]
    step = RnnStep(models, ttl=timedelta(seconds=60), clock_ms=lambda: 1234)
    state = DictState()
    outputs = []
    for seq, piece in enumerate(pieces):
        raw = encode_input_event(input_event("s1", seq, frames=piece, end=seq == len(pieces) - 1))
        outputs.append(step(decode(raw), state))  # type: ignore[arg-type]
    assert all(o is not None for o in outputs)
    predictions = [decode_prediction(o) for o in outputs if o is not None]
    assert [p.seq for p in predictions] == list(range(len(pieces)))
    assert [p.steps_seen for p in predictions] == [10, 20, 30, 37]
    assert [p.final for p in predictions] == [False, False, False, True]
    assert not any(p.gap for p in predictions) and predictions[0].predicted_at_ms == 1234
    whole = predict_sequence(model, frames)
    last = predictions[-1]
    assert last.label == whole.label
    assert max(abs(last.scores[k] - whole.scores[k]) for k in whole.scores) <= 1e-5
    assert STATE_KEY not in state.values  # the end deleted the stream's state
    assert state.ttls == [timedelta(seconds=60)] * 3


def test_a_redelivered_chunk_yields_nothing_and_leaves_the_state(models: LoadedModels) -> None:
    step = RnnStep(models, ttl=timedelta(seconds=60))
    state = DictState()
    frames = np.full((10, 40), -6.0, np.float32)
    first = decode(encode_input_event(input_event("s2", 0, frames=frames)))
    second = decode(encode_input_event(input_event("s2", 1, frames=frames)))
    assert step(first, state) is not None  # type: ignore[arg-type]
    assert step(second, state) is not None  # type: ignore[arg-type]
    stored = dict(state.values)
    assert step(first, state) is None  # type: ignore[arg-type]
    assert step(second, state) is None  # type: ignore[arg-type]
    assert state.values == stored
