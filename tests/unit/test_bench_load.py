"""The paced load generator keeps only the sends the broker has not acknowledged yet, and names each key's
partition as the producer's own partitioner would."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.partitioner import DefaultPartitioner

from rnnstream.bench.load import key_partitions, unacknowledged


async def test_acknowledged_sends_are_dropped_and_a_failed_one_raises() -> None:
    loop = asyncio.get_running_loop()
    done, waiting, failed = loop.create_future(), loop.create_future(), loop.create_future()
    done.set_result(None)
    assert unacknowledged([done, waiting]) == [waiting]
    failed.set_exception(RuntimeError("broker refused"))
    with pytest.raises(RuntimeError, match="broker refused"):
        unacknowledged([waiting, failed])
    waiting.cancel()


class _Producer:
    def __init__(self, partitions: set[int]) -> None:
        self.partitions = partitions
        self.asked = 0

    async def partitions_for(self, topic: str) -> set[int]:
        self.asked += 1
        return self.partitions


async def test_each_key_gets_the_default_partitioners_partition() -> None:
    producer = _Producer({3, 0, 2, 1, 5, 4, 7, 6})
    partition_of = await key_partitions(producer, "events")  # type: ignore[arg-type]
    ordered = list(range(8))
    keys = [f"stream-{i}".encode() for i in range(64)]
    assert [partition_of(k) for k in keys] == [DefaultPartitioner()(k, ordered, ordered) for k in keys]
    assert len({partition_of(k) for k in keys}) == 8 and producer.asked == 1
