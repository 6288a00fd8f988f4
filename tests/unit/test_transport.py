"""The worker's record reader: a fetched batch with a header key that is not UTF-8 stops aiokafka's reader
(and so, once, the worker); the lenient reader returns every record of it, through aiokafka's own fetcher
code."""

from __future__ import annotations

import pytest
from aiokafka.consumer.fetcher import PartitionRecords
from aiokafka.record._crc32c import crc
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import TopicPartition

from rnnstream.worker.transport import LenientMemoryRecords

_CRC_AT, _ATTRIBUTES_AT = 17, 21  # v2 batch: CRC-32C (int32) of everything from the attributes on


def _batch(header_key: bytes, base_offset: int = 0) -> bytes:
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 20,
    )
    builder.append(0, timestamp=1, key=b"s", value=b"first", headers=[("HK!", b"x")])
    builder.append(1, timestamp=1, key=b"s", value=b"second", headers=[])
    data = bytearray(builder.build())
    data[0:8] = base_offset.to_bytes(8, "big", signed=True)
    at = data.index(b"HK!")
    data[at : at + 3] = header_key  # same length, so every size field stays right
    data[_CRC_AT:_ATTRIBUTES_AT] = crc(bytes(data[_ATTRIBUTES_AT:])).to_bytes(4, "big")
    return bytes(data)


def _fetch(records: object) -> list[tuple[int, bytes | None, list[tuple[str, bytes | None]]]]:
    partition = PartitionRecords(
        TopicPartition("in", 0), records, [], 0, None, None, check_crcs=True, isolation_level=0
    )
    return [(r.offset, r.value, list(r.headers)) for r in partition]


def test_aiokafka_alone_cannot_read_a_header_key_that_is_not_utf8() -> None:
    with pytest.raises(UnicodeDecodeError):
        _fetch(MemoryRecords(_batch(b"\xff\xfe!")))


def test_the_lenient_reader_returns_every_record_with_the_key_replaced() -> None:
    data = _batch(b"\xff\xfe!") + _batch(b"HK!", base_offset=2)
    got = _fetch(LenientMemoryRecords(data))
    assert [(offset, value) for offset, value, _ in got] == [
        (0, b"first"),
        (1, b"second"),
        (2, b"first"),
        (3, b"second"),
    ]
    assert got[0][2] == [("\ufffd\ufffd!", b"x")] and got[2][2] == [("HK!", b"x")]


def test_the_lenient_reader_reads_good_batches_like_aiokafka() -> None:
    data = _batch(b"HK!") + _batch(b"ok!", base_offset=2)
    assert _fetch(LenientMemoryRecords(data)) == _fetch(MemoryRecords(data))
