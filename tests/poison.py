"""Hostile inputs: records that once stopped a partition or were wrongly accepted, each with the dead-letter
reason it must get now, in v1 JSON and in the v2 binary format (built with ``tests.factories.v2_value``,
the builder the fuzz corpus mutates). Shared by the unit tests (the processor on a memory store) and the
integration test (a real worker on the real broker and Redis), so both check the same list.

Each case is ``(name, key, value, reason)``: ``key`` is the Kafka key as sent (``None``: no key).
"""

from __future__ import annotations

import json
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

__all__ = ["AUDIO", "TEXT", "encoded", "event_doc", "frames_doc", "poison_cases", "v2_value"]


def _replace_text(doc: dict[str, Any], field: str, json_text: str) -> bytes:
    return with_raw_field(doc, field, json_text).encode()


def _duplicate(doc: dict[str, Any], field: str, second: Any) -> bytes:
    return with_field_twice(doc, field, json.dumps(second)).encode()


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
        ("v2_kind_3", key("v2_kind_3"), v2_value(sid("v2_kind_3"), kind=3), "wrong_schema"),
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
    return cases + v2
