"""A deterministic corpus of mutated input records (seeded): byte-level damage (flips, cuts, insertions)
and JSON-level damage (a field replaced by a hostile value, deleted, duplicated or added; the key changed).

Each record is ``(key, value)``. :func:`codec_verdict` says what the worker's codec makes of one: the
dead-letter reason, or ``None`` when it passes the codec and the key check. The integration test sends the
records the codec refuses through a real worker and expects exactly those reasons back; the atheris script
(``scripts/fuzz_decoder.py``) starts from this corpus.
"""

from __future__ import annotations

import json
import random
from typing import Any

from rnnstream.errors import EventError
from rnnstream.events import check_key, decode_input_event
from rnnstream.events.models import DEFAULT_MAX_CHUNK_STEPS, DEFAULT_MAX_EVENT_BYTES
from tests.factories import event_doc, frames_doc, with_field_twice, with_raw_field

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
    import numpy as np

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


def codec_verdict(key: bytes | None, value: bytes) -> str | None:
    """The reason the worker's codec and key check give ``(key, value)``, or ``None`` if it passes them."""
    try:
        event = decode_input_event(
            value, max_bytes=DEFAULT_MAX_EVENT_BYTES, max_steps=DEFAULT_MAX_CHUNK_STEPS
        )
        check_key(key, event)
    except EventError as exc:
        return exc.reason
    return None
