"""A deterministic corpus of mutated input records (seeded): byte-level damage (flips, cuts, insertions)
and JSON-level damage (a field replaced by a hostile value, deleted, duplicated or added; the key changed)
of v1 events (:func:`corpus`), and the same kinds of damage to v2 binary values (:func:`binary_corpus`: a
header field overwritten with a hostile number, a string or token replaced by hostile bytes, NaN frames, the
value cut or extended, bytes flipped, the key changed), built with ``tests.factories.v2_value`` like the v2
poison pills.

Each record is ``(key, value)``. :func:`codec_verdict` says what the worker's codec makes of one: the
dead-letter reason, or ``None`` when it passes the codec and the key check. The integration test sends the
records the codec refuses through a real worker and expects exactly those reasons back; the atheris script
(``scripts/fuzz_decoder.py``) starts from this corpus.
"""

from __future__ import annotations

import json
import random
from typing import Any

import numpy as np

from rnnstream.errors import EventError
from rnnstream.events import check_key, decode_event
from rnnstream.events.models import DEFAULT_MAX_CHUNK_STEPS, DEFAULT_MAX_EVENT_BYTES
from tests.factories import (
    AUDIO,
    TEXT,
    event_doc,
    frames_doc,
    v2_value,
    with_field_twice,
    with_raw_field,
)

FIELDS = ("v", "stream_id", "seq", "model", "model_version", "start", "end", "produced_at_ms", "payload")
HOSTILE: list[str] = [
    "null",
    "true",
    "false",
    "1.0",
    "-1",
    "0",
    str(2**63),
    str(2**64),
    "1e400",
    "NaN",
    "Infinity",
    '""',
    '"x"',
    json.dumps("y" * 300),
    '"\\ud800"',
    '"a{b}"',
    "[]",
    "{}",
    "[[[[[[[[[[]]]]]]]]]]",
    '{"kind": "tokens", "tokens": []}',
    '{"kind": "tokens", "tokens": [1, 2]}',
    '{"kind": "frames", "dtype": "float32", "shape": [1, 40], "data": "AAAA"}',
    '{"kind": "frames", "dtype": "float32", "shape": [1, 1], "data": "AADAfw=="}',
    '{"kind": "frames", "dtype": "float64", "shape": [0, 40], "data": ""}',
    '{"kind": "audio"}',
]


def _seeds() -> list[dict[str, Any]]:
    return [event_doc("fz-text", 3), frames_doc("fz-audio", np.zeros((2, 40), np.float32), 0)]


def _mutate(rng: random.Random, doc: dict[str, Any]) -> tuple[bytes | None, bytes]:
    key: bytes | None = str(doc["stream_id"]).encode()
    kind = rng.randrange(8)
    if kind == 0:  # a field replaced by a hostile value
        text = with_raw_field(doc, rng.choice(FIELDS), rng.choice(HOSTILE))
    elif kind == 1:  # a field deleted
        text = json.dumps({k: v for k, v in doc.items() if k != rng.choice(FIELDS)})
    elif kind == 2:  # a field written twice
        text = with_field_twice(doc, rng.choice(FIELDS), rng.choice(HOSTILE))
    elif kind == 3:  # an unknown field
        text = json.dumps({**doc, rng.choice(["ned", "V", "extra", "stream"]): 1})
    elif kind == 4:  # the key changed
        text = json.dumps(doc)
        key = rng.choice([None, b"", b"other", b"\xff\xfe", key + b" "])
    else:  # bytes damaged
        raw = bytearray(json.dumps(doc).encode())
        for _ in range(rng.randint(1, 4)):
            op, at = rng.randrange(3), rng.randrange(len(raw))
            if op == 0:
                raw[at] ^= 1 << rng.randrange(8)
            elif op == 1:
                del raw[at : at + rng.randint(1, 40)]
            else:
                raw[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        return key, bytes(raw)
    return key, text.encode("utf-8", "surrogatepass")


def corpus(n: int = 1200, seed: int = 20261201) -> list[tuple[bytes | None, bytes]]:
    """``n`` mutated records, the same for the same ``seed``."""
    rng = random.Random(seed)
    seeds = _seeds()
    return [_mutate(rng, rng.choice(seeds)) for _ in range(n)]


#: Hostile numbers for each v2 header field (besides 0, 1, -1, 2**15 and 2**63, clamped to the field).
V2_HOSTILE: dict[str, list[int]] = {
    "kind": [0, 3, 255],
    "flags": [0x04, 0x08, 0x80, 0xFF],
    "reserved_a": [1, 0x8000],
    "seq": [-1, -(2**63), 2**63 - 1],
    "produced_at_ms": [-1, -(2**63), 2**63 - 1],
    "steps": [0, 1, 3, 2001, 2**31, 2**32 - 1],
    "width": [0, 1, 39, 41, 2**32 - 1],
    "stream_id_len": [0, 1, 257, 2**16 - 1],
    "model_len": [0, 1, 2**16 - 1],
    "model_version_len": [1, 3, 2**16 - 1],
    "reserved_b": [1, 2**16 - 1],
}
#: What each header field can hold (int64, uint8, uint16, uint32).
V2_RANGES: dict[str, tuple[int, int]] = {
    "kind": (0, 2**8 - 1),
    "flags": (0, 2**8 - 1),
    "reserved_a": (0, 2**16 - 1),
    "seq": (-(2**63), 2**63 - 1),
    "produced_at_ms": (-(2**63), 2**63 - 1),
    "steps": (0, 2**32 - 1),
    "width": (0, 2**32 - 1),
    "stream_id_len": (0, 2**16 - 1),
    "model_len": (0, 2**16 - 1),
    "model_version_len": (0, 2**16 - 1),
    "reserved_b": (0, 2**16 - 1),
}
V2_HOSTILE_TEXT: list[bytes] = [b"", b"x", b"\xff", b"\xc3", b"\xed\xa0\x80", b"a{b}", b"y" * 300, b"\x00"]


def _v2_seeds() -> list[dict[str, Any]]:
    return [
        {"stream": "fz2-text", "seq": 3, "model": TEXT, "tokens": ["free", "entry", "é"]},
        {"stream": "fz2-audio", "seq": 0, "model": AUDIO, "version": "2", "frames": np.zeros((2, 40))},
    ]


def _mutate_v2(rng: random.Random, seed: dict[str, Any]) -> tuple[bytes | None, bytes]:
    key: bytes | None = str(seed["stream"]).encode()
    kind = rng.randrange(7)
    fields = dict(seed)
    stream, seq = fields.pop("stream"), fields.pop("seq")
    if kind == 0:  # a header field overwritten with a hostile number (clamped to what the field holds)
        field = rng.choice(list(V2_HOSTILE))
        low, high = V2_RANGES[field]
        number = min(max(rng.choice([*V2_HOSTILE[field], 0, 1, -1, 2**15, 2**63]), low), high)
        if field == "seq":
            seq = number
        else:
            fields[field] = number
        return key, v2_value(stream, seq, **fields)
    if kind == 1:  # a string or a token replaced by hostile bytes
        target = rng.choice(["stream", "model", "version", "token"])
        bad = rng.choice(V2_HOSTILE_TEXT)
        if target == "stream":
            stream = bad
        elif target == "token" and "tokens" in fields:
            tokens = list(fields["tokens"])
            tokens[rng.randrange(len(tokens))] = bad
            fields["tokens"] = tokens
        elif target in ("model", "version"):
            fields[target] = bad
        return key, v2_value(stream, seq, **fields)
    if kind == 2 and "frames" in fields:  # a NaN or an infinity among the frames
        frames = np.array(fields["frames"], dtype=np.float32)
        frames[rng.randrange(frames.shape[0]), rng.randrange(frames.shape[1])] = rng.choice(
            [np.nan, np.inf, -np.inf]
        )
        fields["frames"] = frames
        return key, v2_value(stream, seq, **fields)
    value = bytearray(v2_value(stream, seq, **fields))
    if kind == 3:  # cut anywhere
        return key, bytes(value[: rng.randrange(len(value))])
    if kind == 4:  # bytes appended
        return key, bytes(value) + bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    if kind == 5:  # the key changed
        return rng.choice([None, b"", b"other", b"\xff\xfe", (key or b"") + b" "]), bytes(value)
    for _ in range(rng.randint(1, 4)):  # bytes flipped, anywhere
        value[rng.randrange(len(value))] ^= 1 << rng.randrange(8)
    return key, bytes(value)


def binary_corpus(n: int = 400, seed: int = 20261202) -> list[tuple[bytes | None, bytes]]:
    """``n`` mutated v2 records, the same for the same ``seed``."""
    rng = random.Random(seed)
    seeds = _v2_seeds()
    return [_mutate_v2(rng, rng.choice(seeds)) for _ in range(n)]


def codec_verdict(key: bytes | None, value: bytes) -> str | None:
    """The reason the worker's codec and key check give ``(key, value)``, or ``None`` if it passes them."""
    try:
        event = decode_event(value, max_bytes=DEFAULT_MAX_EVENT_BYTES, max_steps=DEFAULT_MAX_CHUNK_STEPS)
        check_key(key, event)
    except EventError as exc:
        return exc.reason
    return None
