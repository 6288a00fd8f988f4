"""Hostile inputs: records that once stopped a partition or were wrongly accepted, each with the dead-letter
reason it must get now, in v1 JSON and in the v2 binary format (built with ``tests.factories.v2_value``,
the builder the fuzz corpus mutates). Shared by the unit tests (the processor on a memory store) and the
integration test (a real worker on the real broker and Redis), so both check the same list.

Each case is ``(name, key, value, reason)``: ``key`` is the Kafka key as sent (``None``: no key).

Bad PCM audio (``kind: pcm``) is here in both formats, but only what the codec decides: a chunk whose format
differs from its stream's first (``bad_pcm`` too) needs the stream's state and is the worker's to test.
"""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import numpy as np

from tests.factories import (
    AUDIO,
    TEXT,
    encoded,
    event_doc,
    frames_doc,
    v2_value,
    with_field_twice,
    with_raw_field,
)

__all__ = [
    "AUDIO",
    "TEXT",
    "V2_PCM_HEADER",
    "encoded",
    "event_doc",
    "frames_doc",
    "pcm_doc",
    "poison_cases",
    "v2_pcm_value",
    "v2_value",
]


def _replace_text(doc: dict[str, Any], field: str, json_text: str) -> bytes:
    return with_raw_field(doc, field, json_text).encode()


def _duplicate(doc: dict[str, Any], field: str, second: Any) -> bytes:
    return with_field_twice(doc, field, json.dumps(second)).encode()


#: The PCM header at the start of a v2 pcm payload, as docs/events.md spells it: sample rate, encoding
#: (1 s16le, 2 f32le), segment (0 none, 1 vad), reserved (written out here, not imported from the product).
V2_PCM_HEADER = struct.Struct("<IBBH")
_PCM_WIRE = {"s16le": "<i2", "f32le": "<f4"}


def _pcm_bytes(samples: Any, encoding: str) -> bytes:
    return np.ascontiguousarray(samples, dtype=_PCM_WIRE[encoding]).tobytes()


def pcm_doc(
    stream: str,
    samples: Any = (0, 100, -100),
    seq: int = 0,
    *,
    encoding: str = "s16le",
    sample_rate: Any = 16_000,
    channels: Any = 1,
    segment: str = "none",
    data: bytes | None = None,
    **override: Any,
) -> dict[str, Any]:
    """A v1 pcm input event for the audio model as a JSON-ready dict: ``samples`` (``[n]`` or interleaved
    ``[n, channels]``) in ``encoding``, or ``data`` as the raw bytes to base64 (to damage on purpose)."""
    raw = _pcm_bytes(samples, encoding) if data is None else data
    payload = {
        "kind": "pcm",
        "encoding": encoding,
        "sample_rate": sample_rate,
        "channels": channels,
        "segment": segment,
        "data": base64.b64encode(raw).decode(),
    }
    return event_doc(stream, seq, model=AUDIO, payload=payload, **override)


def v2_pcm_value(
    stream: str = "v2-pcm",
    seq: int = 0,
    samples: Any = (0, 100, -100),
    *,
    encoding: str = "s16le",
    sample_rate: int = 16_000,
    encoding_code: int | None = None,
    segment_code: int = 0,
    pcm_reserved: int = 0,
    data: bytes | None = None,
    **header: Any,
) -> bytes:
    """A v2 pcm value (kind 3) packed by hand: T and F from ``samples`` (``[n]`` or ``[n, channels]``), the
    PCM header, then the samples in ``encoding`` (or ``data`` as it is); ``header`` overrides any v2 header
    field (``steps``, ``width``, ...) like :func:`v2_value`."""
    array = np.asarray(samples)
    array = array.reshape(-1, 1) if array.ndim == 1 else array
    fields: dict[str, Any] = {"kind": 3, "steps": array.shape[0], "width": array.shape[1], **header}
    code = encoding_code if encoding_code is not None else {"s16le": 1, "f32le": 2}[encoding]
    pcm_header = V2_PCM_HEADER.pack(sample_rate, code, segment_code, pcm_reserved)
    raw = _pcm_bytes(array, encoding) if data is None else data
    return v2_value(stream, seq, tokens=[], model=AUDIO, **fields) + pcm_header + raw


def pcm_cases(prefix: str) -> list[tuple[str, bytes | None, bytes, str]]:
    """Bad PCM in v1 and v2, each with the reason the codec gives it (stream ids start with ``prefix``)."""
    nan = np.zeros(8, np.float32)
    nan[5] = np.nan
    too_long = np.zeros(16_001, np.int16)  # 1,000 ms at 16 kHz is 16,000 samples
    v1: dict[str, tuple[dict[str, Any], str]] = {
        "pcm_rate_low": ({"sample_rate": 7_999}, "bad_pcm"),
        "pcm_rate_high": ({"sample_rate": 192_001}, "bad_pcm"),
        "pcm_rate_negative": ({"sample_rate": -16_000}, "bad_pcm"),
        "pcm_rate_huge": ({"sample_rate": 2**64}, "bad_pcm"),
        "pcm_no_channels": ({"channels": 0}, "bad_pcm"),
        "pcm_9_channels": ({"channels": 9, "samples": np.zeros(18, np.int16)}, "bad_pcm"),
        "pcm_odd_bytes": ({"data": b"\x00\x01\x02"}, "bad_pcm"),
        "pcm_odd_stereo": ({"channels": 2, "samples": np.zeros(3, np.int16)}, "bad_pcm"),
        "pcm_f32_odd_bytes": ({"encoding": "f32le", "data": bytes(6)}, "bad_pcm"),
        "pcm_empty": ({"data": b""}, "empty"),
        "pcm_too_long": ({"samples": too_long}, "oversized"),
        "pcm_nan": ({"encoding": "f32le", "samples": nan}, "non_finite"),
        "pcm_inf": ({"encoding": "f32le", "samples": [np.inf]}, "non_finite"),
        "pcm_unknown_encoding": ({"encoding": "u8", "data": b"\x00"}, "wrong_schema"),
        "pcm_unknown_segment": ({"segment": "auto"}, "wrong_schema"),
        "pcm_rate_float": ({"sample_rate": 16_000.0}, "wrong_schema"),
        "pcm_rate_string": ({"sample_rate": "16000"}, "wrong_schema"),
    }
    cases: list[tuple[str, bytes | None, bytes, str]] = [
        (n, f"{prefix}{n}".encode(), encoded(pcm_doc(f"{prefix}{n}", **kw)), r) for n, (kw, r) in v1.items()
    ]
    cases.append(
        (
            "pcm_not_base64",
            f"{prefix}pcm_not_base64".encode(),
            _replace_text(
                pcm_doc(f"{prefix}pcm_not_base64"),
                "payload",
                '{"kind": "pcm", "encoding": "s16le", "sample_rate": 16000, "data": "!!!!"}',
            ),
            "wrong_schema",
        )
    )
    good = np.array([[1, -1], [2, -2], [3, -3]], np.int16)
    v2: dict[str, tuple[dict[str, Any], str]] = {
        "v2_pcm_rate_low": ({"sample_rate": 7_999}, "bad_pcm"),
        "v2_pcm_rate_huge": ({"sample_rate": 2**32 - 1}, "bad_pcm"),
        "v2_pcm_no_channels": ({"width": 0, "data": b""}, "bad_pcm"),
        "v2_pcm_9_channels": ({"samples": np.zeros((2, 9), np.int16)}, "bad_pcm"),
        "v2_pcm_odd_bytes": ({"data": _pcm_bytes(good, "s16le") + b"\x00"}, "bad_pcm"),
        "v2_pcm_half_frame": ({"data": _pcm_bytes(good, "s16le")[:-2]}, "bad_pcm"),
        "v2_pcm_cut": ({"data": _pcm_bytes(good, "s16le")[:-4]}, "not_decodable"),
        "v2_pcm_trailing": ({"data": _pcm_bytes(good, "s16le") + bytes(4)}, "wrong_schema"),
        "v2_pcm_encoding_0": ({"encoding_code": 0}, "wrong_schema"),
        "v2_pcm_encoding_3": ({"encoding_code": 3}, "wrong_schema"),
        "v2_pcm_segment_2": ({"segment_code": 2}, "wrong_schema"),
        "v2_pcm_reserved": ({"pcm_reserved": 1}, "wrong_schema"),
        "v2_pcm_empty": ({"samples": np.zeros((0, 2), np.int16)}, "empty"),
        "v2_pcm_too_long": ({"samples": too_long}, "oversized"),
        "v2_pcm_huge_steps": ({"steps": 2**32 - 1, "data": b""}, "oversized"),
        "v2_pcm_nan": ({"encoding": "f32le", "samples": nan}, "non_finite"),
        "v2_pcm_inf": ({"encoding": "f32le", "samples": [[0.0, -np.inf]]}, "non_finite"),
    }
    for name, (kw, reason) in v2.items():
        sid = f"{prefix}{name}"
        cases.append((name, sid.encode(), v2_pcm_value(sid, **{"samples": good, **kw}), reason))
    sid = f"{prefix}v2_pcm_header_cut"  # the value ends 3 bytes into the 8-byte PCM header
    cases.append(
        ("v2_pcm_header_cut", sid.encode(), v2_pcm_value(sid, samples=good, data=b"")[:-5], "not_decodable")
    )
    return cases


def poison_cases(prefix: str) -> list[tuple[str, bytes | None, bytes, str]]:
    """Every hostile input with its reason; stream ids start with ``prefix`` (each case its own stream)."""

    def sid(name: str) -> str:
        return f"{prefix}{name}"

    def key(name: str) -> bytes:
        return sid(name).encode()

    cases: list[tuple[str, bytes | None, bytes, str]] = [
        ("seq_2_63", key("seq_2_63"), encoded(event_doc(sid("seq_2_63"), 2**63)), "wrong_schema"),
        ("seq_2_64", key("seq_2_64"), encoded(event_doc(sid("seq_2_64"), 2**64)), "wrong_schema"),
        (
            "produced_10_400",
            key("produced_10_400"),
            encoded(event_doc(sid("produced_10_400"), produced_at_ms=10**400)),
            "wrong_schema",
        ),
        (
            "produced_2_64",
            key("produced_2_64"),
            encoded(event_doc(sid("produced_2_64"), produced_at_ms=2**64)),
            "wrong_schema",
        ),
        (
            "surrogate_stream",
            key("surrogate_stream"),
            _replace_text(event_doc("x"), "stream_id", '"\\ud800"'),
            "not_decodable",
        ),
        (
            "surrogate_model",
            key("surrogate_model"),
            _replace_text(event_doc(sid("surrogate_model")), "model", '"m\\ud800"'),
            "not_decodable",
        ),
        (
            "surrogate_token",
            key("surrogate_token"),
            _replace_text(
                event_doc(sid("surrogate_token")), "payload", '{"kind": "tokens", "tokens": ["\\udfff"]}'
            ),
            "not_decodable",
        ),
        ("key_mismatch", b"another-stream", encoded(event_doc(sid("key_mismatch"))), "key_mismatch"),
        ("missing_key", None, encoded(event_doc(sid("missing_key"))), "missing_key"),
        (
            "key_not_utf8",
            b"\xff\xfe" + key("key_not_utf8"),
            encoded(event_doc(sid("key_not_utf8"))),
            "key_mismatch",
        ),
        (
            "duplicate_end",
            key("duplicate_end"),
            _duplicate(event_doc(sid("duplicate_end")), "end", True),
            "duplicate_field",
        ),
        (
            "duplicate_stream",
            key("duplicate_stream"),
            _duplicate(event_doc(sid("duplicate_stream")), "stream_id", sid("elsewhere")),
            "duplicate_field",
        ),
        ("v_true", key("v_true"), encoded(event_doc(sid("v_true"), v=True)), "wrong_schema"),
        ("v_float", key("v_float"), encoded(event_doc(sid("v_float"), v=1.0)), "wrong_schema"),
        ("braces", key("braces") + b"{x}", encoded(event_doc(sid("braces") + "{x}")), "wrong_schema"),
        (
            "nested_deep",
            key("nested_deep"),
            encoded(event_doc(sid("nested_deep")))[:-1] + b', "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
            "not_decodable",
        ),
        ("truncated", key("truncated"), encoded(event_doc(sid("truncated")))[:-7], "not_decodable"),
    ]
    nan_frames = np.zeros((3, 40), np.float32)
    nan_frames[2, 7] = np.nan
    v2: list[tuple[str, bytes | None, bytes, str]] = [
        ("v2_negative_seq", key("v2_negative_seq"), v2_value(sid("v2_negative_seq"), -1), "negative_seq"),
        ("v2_truncated", key("v2_truncated"), v2_value(sid("v2_truncated"))[:-3], "not_decodable"),
        ("v2_header_only", key("v2_header_only"), v2_value(sid("v2_header_only"))[:40], "not_decodable"),
        ("v2_trailing", key("v2_trailing"), v2_value(sid("v2_trailing")) + b"\x00", "wrong_schema"),
        ("v2_kind_4", key("v2_kind_4"), v2_value(sid("v2_kind_4"), kind=4), "wrong_schema"),
        ("v2_flag_7", key("v2_flag_7"), v2_value(sid("v2_flag_7"), flags=0x81), "wrong_schema"),
        ("v2_reserved", key("v2_reserved"), v2_value(sid("v2_reserved"), reserved_b=1), "wrong_schema"),
        ("v2_braces", key("v2_braces") + b"{x}", v2_value(sid("v2_braces") + "{x}"), "wrong_schema"),
        ("v2_surrogate_stream", key("v2_surrogate_stream"), v2_value("\ud800"), "wrong_schema"),
        (
            "v2_token_not_utf8",
            key("v2_token_not_utf8"),
            v2_value(sid("v2_token_not_utf8"), tokens=["ok", b"\xff\xfe"]),
            "wrong_schema",
        ),
        ("v2_no_tokens", key("v2_no_tokens"), v2_value(sid("v2_no_tokens"), tokens=[]), "empty"),
        (
            "v2_huge_steps",
            key("v2_huge_steps"),
            v2_value(sid("v2_huge_steps"), tokens=[], steps=2**32 - 1),
            "oversized",
        ),
        ("v2_nan_frame", key("v2_nan_frame"), v2_value(sid("v2_nan_frame"), frames=nan_frames), "non_finite"),
        ("v2_key_mismatch", b"another-stream", v2_value(sid("v2_key_mismatch")), "key_mismatch"),
        ("v2_missing_key", None, v2_value(sid("v2_missing_key")), "missing_key"),
        (
            "v2_wrong_width",
            key("v2_wrong_width"),
            v2_value(sid("v2_wrong_width"), frames=np.zeros((2, 39))),
            "wrong_feature_width",
        ),
        (
            "v2_frames_for_text",
            key("v2_frames_for_text"),
            v2_value(sid("v2_frames_for_text"), frames=np.zeros((2, 40)), model=TEXT),
            "wrong_schema",
        ),
        (
            "v2_unknown_model",
            key("v2_unknown_model"),
            v2_value(sid("v2_unknown_model"), model="no-such-model"),
            "unknown_model",
        ),
    ]
    return cases + v2 + pcm_cases(prefix)
