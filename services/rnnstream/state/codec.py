"""Binary codec for a stored :class:`~rnnstream.core.chunk_rule.StreamRecord`.

Layout, all little-endian (``struct`` notation)::

    offset  size  field
    0       4     magic b"RNS1"
    4       1     format version (B), currently 1
    5       1     flags (B): bit 0 = ended (tombstone)
    6       2     tensor count (H)
    8       8     seq (q)            <- fixed offset, read by the Redis fence script
    16      8     steps_seen (q)
    24      8     chunks (q)
    32      8     gaps (q)
    40      8     updated_at_ms (q)
    48      ...   tensors, each: name length (H), UTF-8 name, dtype code (B), ndim (B),
                  shape (ndim x I), raw little-endian C-order data
    version 2 only, after the tensors:
            2     front-end tensor count (H)
            ...   the front-end's tensors (a PCM stream's carry-over), laid out like the tensors

A record without front-end state (frames and tokens streams) is written as version 1, byte for byte what
earlier releases wrote; version 2 is written only for PCM streams. Both versions are read, so records
written before PCM existed load unchanged.

The Redis script never parses numbers: it compares the 8 raw bytes at offset 8 (Lua ``string.sub(v, 9,
16)``) with the expected seq encoded the same way (:func:`encode_seq`), which is exact for any int64 and
needs no Lua ``struct`` library. Float tensors round-trip bit for bit.

The store's epoch (:class:`~rnnstream.state.store.StateEpoch`) is stored as ASCII ``<id>:<created_at_ms>``,
e.g. ``b"9f86d081884c7d659a2feaa0c55ad015:1764620000000"``.
"""

from __future__ import annotations

import functools
import math
import re
import struct
import sys
from collections.abc import Mapping

import numpy as np

from rnnstream.core.records import StreamRecord
from rnnstream.errors import StateCodecError
from rnnstream.state.store import StateEpoch

MAGIC = b"RNS1"
FORMAT_VERSION = 1
#: The version of a record that holds front-end state (``StreamRecord.frontend``).
FRONTEND_FORMAT_VERSION = 2
SEQ_OFFSET = 8
_HEADER = struct.Struct("<4sBBHqqqqq")
_SEQ = struct.Struct("<q")
_NAME_LEN = struct.Struct("<H")
_TENSOR_HEAD = struct.Struct("<BB")
_FLAG_ENDED = 0x01
_EPOCH = re.compile(rb"([0-9a-f]{32}):([0-9]{1,19})")

_DTYPES: dict[int, np.dtype[np.generic]] = {
    1: np.dtype("<f4"),
    2: np.dtype("<f2"),
    3: np.dtype("<f8"),
    4: np.dtype("<i4"),
    5: np.dtype("<i8"),
}
_CODES = {dtype: code for code, dtype in _DTYPES.items()}


def encode_seq(seq: int) -> bytes:
    """The 8 bytes a record with this ``seq`` holds at :data:`SEQ_OFFSET`."""
    return _SEQ.pack(seq)


def decode_seq(raw: bytes) -> int:
    """Inverse of :func:`encode_seq`."""
    try:
        return int(_SEQ.unpack(raw)[0])
    except struct.error as exc:
        raise StateCodecError(f"bad stored seq {raw!r}") from exc


def check_encodable(record: StreamRecord) -> None:
    """Raise :class:`StateCodecError` unless :func:`encode_record` can encode ``record``: the header's
    integers fit int64 and every tensor has a supported dtype. Cheap (no tensor bytes are copied), so the
    worker checks each new record before it publishes anything for it."""
    try:
        _header(record)
    except struct.error as exc:
        raise StateCodecError(f"cannot encode state: {exc}") from exc
    if len(record.frontend) > 0xFFFF:
        raise StateCodecError("too many front-end tensors")
    for name, array in (*record.tensors.items(), *record.frontend.items()):
        if array.dtype.newbyteorder("<") not in _CODES:
            raise StateCodecError(f"tensor {name!r} has unsupported dtype {array.dtype}")
        if array.ndim > 255 or any(dim > 0xFFFFFFFF for dim in array.shape):
            raise StateCodecError(f"tensor {name!r} has an unsupported shape {array.shape}")
        try:
            name.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise StateCodecError(f"tensor name {name!r} is not UTF-8") from exc


def _header(record: StreamRecord) -> bytes:
    flags = _FLAG_ENDED if record.ended else 0
    return _HEADER.pack(
        MAGIC,
        FRONTEND_FORMAT_VERSION if record.frontend else FORMAT_VERSION,
        flags,
        len(record.tensors),
        record.seq,
        record.steps_seen,
        record.chunks,
        record.gaps,
        record.updated_at_ms,
    )


def encode_record(record: StreamRecord) -> bytes:
    """Serialise a record (see the module docstring for the layout)."""
    try:
        return _encode(record)
    except struct.error as exc:
        raise StateCodecError(f"cannot encode state: {exc}") from exc


def _encode(record: StreamRecord) -> bytes:
    parts = [_header(record)]
    _encode_tensors(record.tensors, parts)
    if record.frontend:
        parts.append(_NAME_LEN.pack(len(record.frontend)))
        _encode_tensors(record.frontend, parts)
    return b"".join(parts)


def _encode_tensors(tensors: Mapping[str, np.ndarray], parts: list[bytes]) -> None:
    for name, array in tensors.items():
        dtype = array.dtype.newbyteorder("<")
        parts.append(_tensor_head(name, dtype, array.shape))
        parts.append(np.ascontiguousarray(array, dtype=dtype).tobytes())


@functools.lru_cache(maxsize=256)
def _tensor_head(name: str, dtype: np.dtype[np.generic], shape: tuple[int, ...]) -> bytes:
    """The bytes before a tensor's data: name length, name, dtype code, ndim, shape. A stream's tensors keep
    their names, dtypes and shapes from chunk to chunk, so these few bytes are made once and reused."""
    code = _CODES.get(dtype)
    if code is None:
        raise StateCodecError(f"tensor {name!r} has unsupported dtype {dtype}")
    raw_name = name.encode("utf-8")
    return b"".join(
        (
            _NAME_LEN.pack(len(raw_name)),
            raw_name,
            _TENSOR_HEAD.pack(code, len(shape)),
            struct.pack(f"<{len(shape)}I", *shape),
        )
    )


def decode_record(data: bytes) -> StreamRecord:
    """Parse bytes written by :func:`encode_record`; raises :class:`StateCodecError` on anything else."""
    try:
        return _decode(memoryview(data))
    except StateCodecError:
        raise
    except (struct.error, UnicodeDecodeError, ValueError) as exc:
        raise StateCodecError(f"cannot decode stored state: {exc}") from exc


def _decode(view: memoryview) -> StreamRecord:
    magic, version, flags, count, seq, steps, chunks, gaps, updated = _HEADER.unpack_from(view, 0)
    if magic != MAGIC:
        raise StateCodecError(f"bad magic {bytes(magic)!r}")
    if version not in (FORMAT_VERSION, FRONTEND_FORMAT_VERSION):
        raise StateCodecError(f"unsupported state format version {version}")
    if flags & ~_FLAG_ENDED:
        raise StateCodecError(f"unknown flags {flags:#x}")
    tensors, offset = _decode_tensors(view, _HEADER.size, count)
    frontend: dict[str, np.ndarray] = {}
    if version == FRONTEND_FORMAT_VERSION:
        (frontend_count,) = _NAME_LEN.unpack_from(view, offset)
        frontend, offset = _decode_tensors(view, offset + _NAME_LEN.size, frontend_count)
    if offset != len(view):
        raise StateCodecError(f"{len(view) - offset} trailing bytes after the last tensor")
    return StreamRecord(
        seq=seq,
        ended=bool(flags & _FLAG_ENDED),
        steps_seen=steps,
        chunks=chunks,
        gaps=gaps,
        updated_at_ms=updated,
        tensors=tensors,
        frontend=frontend,
    )


_NATIVE_LITTLE = sys.byteorder == "little"


@functools.cache
def _shape_struct(ndim: int) -> struct.Struct:
    return struct.Struct(f"<{ndim}I")


def _decode_tensors(view: memoryview, offset: int, count: int) -> tuple[dict[str, np.ndarray], int]:
    tensors: dict[str, np.ndarray] = {}
    for _ in range(count):
        (name_len,) = _NAME_LEN.unpack_from(view, offset)
        offset += _NAME_LEN.size
        name = bytes(view[offset : offset + name_len]).decode("utf-8")
        offset += name_len
        code, ndim = _TENSOR_HEAD.unpack_from(view, offset)
        offset += _TENSOR_HEAD.size
        shape = _shape_struct(ndim).unpack_from(view, offset)
        offset += 4 * ndim
        dtype = _DTYPES.get(code)
        if name in tensors:
            raise StateCodecError(f"tensor {name!r} appears twice")
        if dtype is None:
            raise StateCodecError(f"tensor {name!r} has unknown dtype code {code}")
        size = dtype.itemsize * math.prod(shape)
        if offset + size > len(view):
            raise StateCodecError(f"tensor {name!r} is truncated")
        array = np.frombuffer(view, dtype, size // dtype.itemsize, offset).reshape(shape)
        tensors[name] = array if _NATIVE_LITTLE else array.astype(dtype.newbyteorder("="))
        offset += size
    return tensors, offset


def encode_epoch(epoch: StateEpoch) -> bytes:
    """The stored form of an epoch: ASCII ``<id>:<created_at_ms>``."""
    return f"{epoch.id}:{epoch.created_at_ms}".encode("ascii")


def decode_epoch(raw: bytes) -> StateEpoch:
    """Inverse of :func:`encode_epoch`; raises :class:`StateCodecError` on anything else."""
    match = _EPOCH.fullmatch(raw)
    if match is None:
        raise StateCodecError(f"bad stored state epoch {raw[:80]!r}")
    return StateEpoch(id=match.group(1).decode("ascii"), created_at_ms=int(match.group(2)))
