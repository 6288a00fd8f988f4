"""Property-based: whatever bytes, key, event-shaped JSON or v2-shaped binary arrive, the worker's ``prepare``
stage (decode → key check → admit → step → encoding of every key, prediction, dead letter and state record)
never raises (PCM of any shape included, front-end and endpointer and all), and each record yields exactly one output: a prediction, or a dead letter with a documented
reason that encodes. ``decode_event`` itself raises nothing but ``EventError`` on v2 input, and the dead
letter of whatever it refuses keeps the value byte for byte.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from rnnstream.errors import EventError
from rnnstream.events import (
    DeadLetterReason,
    dead_letter_for,
    decode_dead_letter,
    decode_event,
    decode_prediction,
    encode_dead_letter,
)
from rnnstream.events.binary import HEADER, KIND_PCM, MAGIC, PCM_HEADER
from rnnstream.events.models import DEFAULT_MAX_CHUNK_STEPS, DEFAULT_MAX_EVENT_BYTES
from rnnstream.state.codec import decode_record
from rnnstream.state.memory import MemoryStateStore
from rnnstream.worker.loaded_models import LoadedModels
from rnnstream.worker.metrics import WorkerMetrics
from rnnstream.worker.processor import BatchProcessor, ProcessorConfig, RawEvent
from tests.factories import V2_FIELDS, v2_value
from tests.fuzz_corpus import HOSTILE, V2_HOSTILE, V2_RANGES, binary_corpus, corpus
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
    for key, value in corpus(300) + binary_corpus(150):
        _prepare_one(key, value)


# --- v2 (binary) -------------------------------------------------------------------------------------------


def _decode_or_refuse(value: bytes) -> None:
    """``decode_event`` returns or raises ``EventError`` (anything else fails the test); a refusal's dead
    letter encodes and gives the value back."""
    try:
        decode_event(value, max_bytes=DEFAULT_MAX_EVENT_BYTES, max_steps=DEFAULT_MAX_CHUNK_STEPS)
    except EventError as exc:
        assert exc.reason in set(DeadLetterReason) and str(exc)
        letter = dead_letter_for(value, exc, at_ms=1)
        assert decode_dead_letter(encode_dead_letter(letter)).original_bytes() == value


def _field(name: str) -> st.SearchStrategy[int]:
    low, high = V2_RANGES[name]
    edges = [v for v in (*V2_HOSTILE.get(name, []), 0, 1, 2, low, high) if low <= v <= high]
    return st.one_of(st.sampled_from(edges), st.integers(min_value=low, max_value=high))


good_text = st.text(st.characters(exclude_characters="{}"), min_size=1, max_size=12).map(str.encode)
text_bytes = st.one_of(
    st.text(max_size=12).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=12),
    st.sampled_from([b"", b"a{b}", b"\xed\xa0\x80", b"y" * 300]),
)
names = st.one_of(good_text, good_text, text_bytes)  # mostly valid, so more values get past the strings
frame_arrays = st.lists(
    st.lists(st.floats(width=32, allow_nan=True, allow_infinity=True), min_size=40, max_size=40),
    min_size=0,
    max_size=3,
).map(lambda rows: np.array(rows, dtype=np.float32).reshape(len(rows), 40))


@st.composite
def v2_values(draw: st.DrawFn) -> bytes:
    """A v2 value from drawn content, sometimes with a header field or two overridden by a drawn number."""
    content: dict[str, Any] = {"model": draw(st.sampled_from([TEXT.encode(), AUDIO.encode()]) | names)}
    if draw(st.booleans()):
        content["frames"] = draw(frame_arrays)
    else:
        content["tokens"] = draw(st.lists(st.one_of(good_text, st.just(b""), text_bytes), max_size=5))
    if draw(st.booleans()):
        content["version"] = draw(st.sampled_from([b"1", b"2"]) | names)
    overridable = [f for f in V2_FIELDS if f not in ("magic", "seq")]
    overrides = draw(st.lists(st.sampled_from(overridable), max_size=2, unique=True) | st.just([]))
    header = {name: draw(_field(name)) for name in overrides}
    seq = draw(st.one_of(st.integers(min_value=0, max_value=3), _field("seq")))
    return v2_value(draw(names), seq, end=draw(st.booleans()), **content, **header)


@st.composite
def damaged(draw: st.DrawFn, values: st.SearchStrategy[bytes]) -> bytes:
    """``values`` cut short, extended, or with a few bytes flipped or overwritten."""
    value = bytearray(draw(values))
    how = draw(st.sampled_from(["cut", "extend", "flip", "overwrite"]))
    if how == "cut":
        return bytes(value[: draw(st.integers(min_value=0, max_value=len(value)))])
    if how == "extend":
        return bytes(value) + draw(st.binary(min_size=1, max_size=8))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        at = draw(st.integers(min_value=4, max_value=len(value) - 1))  # past the magic: it stays v2
        value[at] = value[at] ^ (1 << draw(st.integers(0, 7))) if how == "flip" else draw(st.integers(0, 255))
    return bytes(value)


@FUZZ
@given(key=keys, rest=st.binary(max_size=600))
def test_arbitrary_bytes_after_the_v2_magic_never_break_prepare(key: bytes | None, rest: bytes) -> None:
    _decode_or_refuse(b"RNS2" + rest)
    _prepare_one(key, b"RNS2" + rest)


@FUZZ
@given(value=st.one_of(v2_values(), damaged(v2_values())), same_key=st.booleans(), key=keys)
def test_v2_shaped_and_damaged_values_never_break_decode_or_prepare(
    value: bytes, same_key: bool, key: bytes | None
) -> None:
    _decode_or_refuse(value)
    if same_key:  # the key the value names, so more records get past the key check into admission
        key = value[40 : 40 + int.from_bytes(value[32:34], "little")] if len(value) >= 40 else key
    _prepare_one(key, value)


pcm_events = st.fixed_dictionaries(
    {
        "rate": st.one_of(
            st.sampled_from([8000, 11025, 16000, 22050, 44100, 48000, 96000, 192000]),
            st.integers(min_value=1, max_value=400_000),
        ),
        "channels": st.integers(min_value=1, max_value=9),
        "encoding": st.sampled_from(["s16le", "f32le"]),
        "segment": st.sampled_from(["none", "vad"]),
        "n": st.integers(min_value=0, max_value=3000),
        "model": st.sampled_from([AUDIO, TEXT]),
        "end": st.booleans(),
        "special": st.sampled_from([None, np.nan, np.inf, 40.0]),
    }
)


@FUZZ
@given(pcm_events, st.integers(min_value=0, max_value=2**32 - 1))
def test_pcm_events_of_any_shape_never_crash_prepare(e: dict[str, Any], seed: int) -> None:
    """Any PCM event a producer can encode (odd rates, channel counts, lengths, NaN, loud floats, text models)
    is served or dead-lettered with a documented reason; nothing raises; a new record round-trips the codec."""
    rng = np.random.default_rng(seed)
    samples = rng.standard_normal((e["n"], e["channels"])) * 0.3
    if e["special"] is not None and e["n"]:
        samples[rng.integers(e["n"]), 0] = e["special"]
    sid = "pcm-fuzz"
    if e["encoding"] == "s16le":
        data = (
            (np.clip(np.nan_to_num(samples, posinf=1.0, neginf=-1.0), -1, 1) * 32767).astype("<i2").tobytes()
        )
    else:
        data = samples.astype("<f4").tobytes()
    names = sid.encode() + e["model"].encode()
    header = HEADER.pack(
        MAGIC,
        KIND_PCM,
        0x01 | (0x02 if e["end"] else 0),
        0,
        0,
        1,
        e["n"],
        e["channels"],
        len(sid),
        len(e["model"]),
        0,
        0,
    )
    pcm = PCM_HEADER.pack(e["rate"], 1 if e["encoding"] == "s16le" else 2, int(e["segment"] == "vad"), 0)
    value = header + names + pcm + data
    processor = BatchProcessor(
        REGISTRY, MemoryStateStore(), _Sink(), WorkerMetrics(CollectorRegistry()), ProcessorConfig()
    )
    prepared = asyncio.run(processor.prepare([RawEvent(value, sid.encode(), "in", 0, 7)]))
    letters = [decode_dead_letter(v) for _, v in prepared.dead_letter_records]
    assert len(letters) <= 1
    for letter in letters:
        assert (
            letter.reason in set(DeadLetterReason) and not prepared.prediction_records and not prepared.writes
        )
    for _, prediction in prepared.prediction_records:
        assert decode_prediction(prediction).stream_id == sid
    for write in prepared.writes:
        assert write.encoded is not None and decode_record(write.encoded) == write.record
