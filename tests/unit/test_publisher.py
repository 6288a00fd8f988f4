"""BatchPublisher without a broker: which partition each record goes to, and one record batch per partition."""

from __future__ import annotations

import asyncio

from aiokafka.partitioner import DefaultPartitioner

from rnnstream.worker.publisher import BatchPublisher


class Batch:
    def __init__(self) -> None:
        self.records: list[tuple[bytes | None, bytes]] = []

    def append(self, *, key: bytes | None, value: bytes, timestamp: int | None) -> object:
        self.records.append((key, value))
        return self


class Producer:
    """The part of an AIOKafkaProducer the publisher uses; acknowledges at once and remembers what it got."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self.sent: list[tuple[str, int, list[tuple[bytes | None, bytes]]]] = []

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(self.partitions))

    def create_batch(self) -> Batch:
        return Batch()

    async def send_batch(self, batch: Batch, topic: str, *, partition: int) -> asyncio.Future[None]:
        self.sent.append((topic, partition, batch.records))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


class CountingPartitioner:
    def __init__(self) -> None:
        self.calls: list[bytes | None] = []
        self.inner = DefaultPartitioner()

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        self.calls.append(key)
        return int(self.inner(key, all_partitions, available))


def partition_of(producer: Producer) -> dict[bytes | None, set[int]]:
    seen: dict[bytes | None, set[int]] = {}
    for _, partition, records in producer.sent:
        for key, _ in records:
            seen.setdefault(key, set()).add(partition)
    return seen


async def test_each_key_goes_where_the_java_partitioner_puts_it_and_is_worked_out_once() -> None:
    producer, partitioner = Producer(8), CountingPartitioner()
    publisher = BatchPublisher(producer, "predictions", "dead-letters", partitioner=partitioner)
    keys = [f"stream-{i}".encode() for i in range(40)]
    for value in (b"1", b"2", b"3"):
        await publisher.send_predictions([(k, value) for k in keys])
    expected = {k: {DefaultPartitioner()(k, list(range(8)), list(range(8)))} for k in keys}
    assert partition_of(producer) == expected
    assert sorted(partitioner.calls) == sorted(keys)  # remembered after the first batch
    # one record batch per partition per call, records in their order
    assert len(producer.sent) == 3 * len({p for ps in expected.values() for p in ps})
    for _, partition, records in producer.sent:
        assert [k for k, _ in records] == [k for k in keys if expected[k] == {partition}]


async def test_records_without_a_key_are_spread_and_never_remembered() -> None:
    producer, partitioner = Producer(8), CountingPartitioner()
    publisher = BatchPublisher(producer, "predictions", "dead-letters", partitioner=partitioner)
    await publisher.send_dead_letters([(None, b"x")] * 64)
    await publisher.send_dead_letters([(None, b"y")] * 64)
    assert partitioner.calls == [None] * 128
    assert len(partition_of(producer)[None]) > 1  # a random partition each


async def test_a_new_partition_count_is_worked_out_again() -> None:
    producer = Producer(8)
    publisher = BatchPublisher(producer, "predictions", "dead-letters")
    keys = [f"stream-{i}".encode() for i in range(40)]
    await publisher.send_predictions([(k, b"1") for k in keys])
    producer.partitions, producer.sent = 3, []
    await publisher.send_predictions([(k, b"2") for k in keys])
    assert partition_of(producer) == {k: {DefaultPartitioner()(k, [0, 1, 2], [0, 1, 2])} for k in keys}
