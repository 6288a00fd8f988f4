"""The core's values: a state key's identity (equality, hash) and a record's owned tensors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rnnstream.core.records import EMPTY_TENSORS, StateKey, StreamRecord


def test_equal_keys_are_one_dictionary_key_and_differ_from_anything_else() -> None:
    a, same = StateKey("m", "1", "s"), StateKey("m", "1", "s")
    assert a is not same and a == same and hash(a) == hash(same)
    assert {a: 1}[same] == 1
    for other in (StateKey("m", "1", "t"), StateKey("m", "2", "s"), StateKey("n", "1", "s")):
        assert a != other
    assert a != ("m", "1", "s")  # not a tuple
    assert dataclasses.replace(a, stream_id="t") == StateKey("m", "1", "t")  # the hash follows the fields
    assert hash(dataclasses.replace(a, stream_id="t")) == hash(StateKey("m", "1", "t"))
    assert repr(a) == "StateKey(model='m', version='1', stream_id='s')"


def test_a_key_cannot_change() -> None:
    key = StateKey("m", "1", "s")
    with pytest.raises(dataclasses.FrozenInstanceError):
        key.stream_id = "t"  # type: ignore[misc]


@pytest.mark.parametrize("fields", [("m:x", "1", "s"), ("m", "{1}", "s"), ("m", "1", "a{b}"), ("", "1", "s")])
def test_a_key_that_would_render_ambiguously_is_refused(fields: tuple[str, str, str]) -> None:
    with pytest.raises(ValueError, match="must be non-empty without any of"):
        StateKey(*fields)


def test_a_record_without_front_end_state_shares_the_empty_mapping() -> None:
    record = StreamRecord(seq=1, tensors={"h": np.zeros((1, 2), np.float32)})
    assert record.frontend is EMPTY_TENSORS and not record.frontend
    assert StreamRecord(seq=2, ended=True).tensors is EMPTY_TENSORS
    assert not record.tensors["h"].flags.writeable
