"""The binary state codec: layout, round trips and refusal of bad bytes."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from rnnstream.core.records import StreamRecord
from rnnstream.errors import StateCodecError
from rnnstream.state.codec import SEQ_OFFSET, decode_record, decode_seq, encode_record, encode_seq

H = np.array([[1.5, -0.0, np.nan], [np.inf, 1e-45, -3.25]], dtype=np.float32)


def sample(**overrides: object) -> StreamRecord:
    fields: dict[str, object] = dict(seq=2**40 + 3, steps_seen=7, chunks=3, gaps=1, updated_at_ms=99)
    fields.update(overrides)
    return StreamRecord(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "record",
    [
        sample(tensors={"h": H}),
        sample(tensors={"h": H, "c": H * 2}),
        sample(ended=True),
        sample(seq=0, tensors={"h": np.zeros((3, 1, 2), dtype=np.float64), "n": np.arange(4)}),
        sample(tensors={"h": np.zeros((0, 5), dtype=np.float32)}),
    ],
)
def test_round_trip(record: StreamRecord) -> None:
    data = encode_record(record)
    assert data[:4] == b"RNS1"
    assert decode_record(data) == record


def test_seq_sits_at_a_fixed_offset() -> None:
    data = encode_record(sample(seq=123456789, tensors={"h": H}))
    assert data[SEQ_OFFSET : SEQ_OFFSET + 8] == encode_seq(123456789) == struct.pack("<q", 123456789)
    assert decode_seq(encode_seq(2**62)) == 2**62


def test_the_tensor_section_is_laid_out_as_documented_every_time() -> None:
    c = np.arange(6, dtype=np.float64).reshape(1, 2, 3)
    record = sample(tensors={"h": H, "cell": c})
    head = struct.pack("<4sBBHqqqqq", b"RNS1", 1, 0, 2, 2**40 + 3, 7, 3, 1, 99)
    h = struct.pack("<H", 1) + b"h" + struct.pack("<BB", 1, 2) + struct.pack("<2I", 2, 3) + H.tobytes()
    cell = (
        struct.pack("<H", 4) + b"cell" + struct.pack("<BB", 3, 3) + struct.pack("<3I", 1, 2, 3) + c.tobytes()
    )
    # the second encoding reuses the tensors' cached heads: the bytes must not change
    assert encode_record(record) == encode_record(record) == head + h + cell


def test_big_endian_input_is_stored_little_endian() -> None:
    big = H.astype(">f4")
    decoded = decode_record(encode_record(sample(tensors={"h": big})))
    assert decoded.tensors["h"].tobytes() == H.tobytes()


GOOD = encode_record(sample(tensors={"h": H}))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"RNS1",
        b"XXXX" + GOOD[4:],
        GOOD[:4] + b"\x02" + GOOD[5:],  # unknown version
        GOOD[:5] + b"\x80" + GOOD[6:],  # unknown flag
        GOOD[:-1],  # truncated tensor
        GOOD + b"\x00",  # trailing bytes
        GOOD[:5] + b"\x01" + GOOD[6:],  # ended but holding tensors
        GOOD[:SEQ_OFFSET] + struct.pack("<q", -1) + GOOD[SEQ_OFFSET + 8 :],  # negative seq
    ],
)
def test_bad_bytes_raise_codec_error(data: bytes) -> None:
    with pytest.raises(StateCodecError):
        decode_record(data)


def test_unsupported_dtype_is_refused() -> None:
    with pytest.raises(StateCodecError, match="dtype"):
        encode_record(sample(tensors={"h": np.zeros(2, dtype=np.complex64)}))
    with pytest.raises(StateCodecError):
        decode_seq(b"short")
