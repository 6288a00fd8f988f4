"""Property-based: whatever bytes, key and event-shaped JSON arrive, the worker's ``prepare`` stage (decode →
key check → admit → step → encoding of every key, prediction, dead letter and state record) never raises, and
each record yields exactly one output: a prediction, or a dead letter with a documented reason that encodes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from rnnstream.events import DeadLetterReason, decode_dead_letter, decode_prediction
from rnnstream.state.memory import MemoryStateStore
from rnnstream.worker.loaded_models import LoadedModels
from rnnstream.worker.metrics import WorkerMetrics
from rnnstream.worker.processor import BatchProcessor, ProcessorConfig, RawEvent
from tests.fuzz_corpus import HOSTILE, corpus
from tests.paths import REPOSITORY
from tests.poison import AUDIO, TEXT

REGISTRY = LoadedModels.load(REPOSITORY)
FUZZ = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class _Sink:
    async def send_predictions(self, records: Any) -> None:
        pass

    async def send_dead_letters(self, records: Any) -> None:
        pass


def _prepare_one(key: bytes | None, value: bytes) -> None:
    processor = BatchProcessor(
        REGISTRY, MemoryStateStore(), _Sink(), WorkerMetrics(CollectorRegistry()), ProcessorConfig()
    )
    prepared = asyncio.run(processor.prepare([RawEvent(value, key, "in", 0, 7)]))
    outputs = len(prepared.prediction_records) + len(prepared.dead_letter_records)
    assert outputs == 1, (key, value)
    for _, letter in prepared.dead_letter_records:
        assert decode_dead_letter(letter).reason in set(DeadLetterReason)
    for record_key, prediction in prepared.prediction_records:
        assert record_key == decode_prediction(prediction).stream_id.encode("utf-8")


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", "x", "a{b}", TEXT, AUDIO, "1"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
tokens = st.fixed_dictionaries(
    {"kind": st.just("tokens"), "tokens": st.lists(st.text(max_size=8), max_size=6)}
)
frames = st.fixed_dictionaries(
    {
        "kind": st.just("frames"),
        "dtype": st.sampled_from(["float32", "float64"]),
        "shape": st.lists(st.integers(min_value=-1, max_value=41), min_size=0, max_size=3),
        "data": st.sampled_from(["", "AAAA", "AADAfw==", "A" * 428 + "==", "not base64"]),
    }
)
event_fields: dict[str, st.SearchStrategy[Any]] = {
    "v": st.one_of(st.just(1), json_values),
    "stream_id": st.one_of(st.text(min_size=1, max_size=20), json_values),
    "seq": st.one_of(st.integers(min_value=-2, max_value=2**65), json_values),
    "model": st.one_of(st.sampled_from([TEXT, AUDIO, "nope"]), json_values),
    "model_version": st.one_of(st.none(), st.sampled_from(["1", "2", "99"]), json_values),
    "start": st.one_of(st.booleans(), json_values),
    "end": st.one_of(st.booleans(), json_values),
    "produced_at_ms": st.one_of(st.integers(min_value=-1, max_value=2**65), json_values),
    "payload": st.one_of(tokens, frames, json_values),
}
events = st.fixed_dictionaries({}, optional=event_fields)
keys = st.one_of(
    st.none(),
    st.binary(max_size=24),
    st.text(min_size=1, max_size=20).map(lambda s: s.encode("utf-8", "surrogatepass")),
)


@FUZZ
@given(key=keys, value=st.binary(max_size=600))
def test_arbitrary_bytes_never_break_prepare(key: bytes | None, value: bytes) -> None:
    _prepare_one(key, value)


@FUZZ
@given(doc=events, key=keys, same_key=st.booleans())
def test_event_shaped_json_never_breaks_prepare(
    doc: dict[str, Any], key: bytes | None, same_key: bool
) -> None:
    value = json.dumps(doc, allow_nan=True).encode("utf-8", "surrogatepass")
    if same_key and isinstance(doc.get("stream_id"), str):
        key = doc["stream_id"].encode("utf-8", "surrogatepass")
    _prepare_one(key, value)


@FUZZ
@given(
    doc=events, field=st.sampled_from(["v", "stream_id", "seq", "model", "end"]), raw=st.sampled_from(HOSTILE)
)
def test_duplicated_and_hostile_fields_never_break_prepare(doc: dict[str, Any], field: str, raw: str) -> None:
    text = json.dumps(doc, allow_nan=True)
    text = (text[:-1] + ", " if len(text) > 2 else "{") + f"{json.dumps(field)}: {raw}}}"
    key = doc["stream_id"].encode("utf-8", "surrogatepass") if isinstance(doc.get("stream_id"), str) else b"k"
    _prepare_one(key, text.encode("utf-8", "surrogatepass"))


def test_the_seeded_corpus_never_breaks_prepare() -> None:
    for key, value in corpus(300):
        _prepare_one(key, value)
