"""The batch processor's publishers: :class:`TopicPublisher` over any Kafka client's per-record ``send``
(faust's producer, aiokafka's), :class:`BatchPublisher` over an aiokafka producer's record batches (the
worker's default; docs/benchmarks.md has the measurement that chose it).

``send(topic, key, value)`` queues one record and returns a future of its acknowledgement, which is what
``faust``'s ``producer.send`` and ``aiokafka``'s ``AIOKafkaProducer.send`` both do. A batch returns once
every record is acknowledged; any failure to send or to be acknowledged is a
:class:`~rnnstream.errors.PublishError`, which the batch runner retries as an outage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from rnnstream.errors import PublishError

#: Most keys whose partition :class:`KeyPartitions` remembers; past that it starts over.
PARTITIONS_KEPT = 65_536

#: Queue one record, get a future of the broker's acknowledgement.
SendRecord = Callable[[str, bytes | None, bytes], Awaitable[Awaitable[Any]]]
#: aiokafka's partitioner interface: ``(key, all_partitions, available_partitions) -> partition``.
Partitioner = Callable[[bytes | None, list[int], list[int]], int]


class KeyPartitions:
    """The partition a producer's partitioner (by default aiokafka's, the Java client's murmur2) gives each
    key over a topic's partitions, remembered per key (at most :data:`PARTITIONS_KEPT`; worked out again when
    the partitions change): a stream's key comes back with every chunk, and murmur2 in Python costs about
    4 µs. A ``None`` key gets the partitioner's choice each time (a random partition), never remembered."""

    def __init__(self, partitioner: Partitioner | None = None) -> None:
        if partitioner is None:
            from aiokafka.partitioner import DefaultPartitioner

            partitioner = DefaultPartitioner()
        self._partitioner = partitioner
        self._partitions: list[int] = []
        self._memo: dict[bytes, int] = {}

    def use(self, partitions: list[int]) -> None:
        """Choose among ``partitions`` (sorted) from now on; forgets what it remembered if they changed."""
        if partitions != self._partitions:
            self._partitions = partitions
            self._memo = {}

    def of(self, key: bytes | None) -> int:
        """The partition of ``key`` among the partitions given to :meth:`use`."""
        partition = self._memo.get(key) if key is not None else None
        if partition is None:
            partitions = self._partitions
            partition = self._partitioner(key, partitions, partitions)
            if key is not None:
                if len(self._memo) >= PARTITIONS_KEPT:
                    self._memo.clear()
                self._memo[key] = partition
        return partition


class _TwoTopics:
    """What both publishers share: the two topics, and every failure to send turned into a
    :class:`PublishError`. Subclasses send the records of one topic in ``_send_all``."""

    def __init__(self, prediction_topic: str, dead_letter_topic: str) -> None:
        self.prediction_topic = prediction_topic
        self.dead_letter_topic = dead_letter_topic

    async def _send_all(self, topic: str, records: Sequence[tuple[bytes | None, bytes]]) -> None:
        raise NotImplementedError

    async def _send(self, topic: str, records: Sequence[tuple[bytes | None, bytes]]) -> None:
        try:
            await self._send_all(topic, records)
        except (asyncio.CancelledError, PublishError):
            raise
        except Exception as exc:
            raise PublishError(f"publishing {len(records)} records to {topic} failed: {exc}") from exc

    async def send_predictions(self, records: Sequence[tuple[bytes, bytes]]) -> None:
        """Send ``(key, value)`` predictions; returns once the broker has all of them."""
        await self._send(self.prediction_topic, records)

    async def send_dead_letters(self, records: Sequence[tuple[bytes | None, bytes]]) -> None:
        """Send ``(key, value)`` dead letters; returns once the broker has all of them."""
        await self._send(self.dead_letter_topic, records)


class TopicPublisher(_TwoTopics):
    """Publishes predictions and dead letters to their topics and waits for the acknowledgements."""

    def __init__(self, send: SendRecord, prediction_topic: str, dead_letter_topic: str) -> None:
        super().__init__(prediction_topic, dead_letter_topic)
        self._send_record = send

    async def _send_all(self, topic: str, records: Sequence[tuple[bytes | None, bytes]]) -> None:
        acks = [await self._send_record(topic, key, value) for key, value in records]
        await asyncio.gather(*acks)


class BatchPublisher(_TwoTopics):
    """Publishes a batch's records through an ``AIOKafkaProducer`` a partition at a time: the records of each
    partition go into one record batch (``create_batch``/``send_batch``; more only when one fills up), and
    one ``gather`` waits for every acknowledgement. Per record that is one ``append``, where
    :class:`TopicPublisher` pays a coroutine, a future and the producer's bookkeeping.

    Partitions are chosen as the producer would choose them, with the Java client's murmur2 partitioner
    over the topic's partitions, so a stream's predictions land on the partition its key names; each key's
    partition is remembered (:class:`KeyPartitions`). Order per partition is the order of ``records``: the
    producer keeps one request per partition in flight.
    """

    def __init__(
        self,
        producer: Any,
        prediction_topic: str,
        dead_letter_topic: str,
        *,
        partitioner: Partitioner | None = None,
    ) -> None:
        super().__init__(prediction_topic, dead_letter_topic)
        #: An ``AIOKafkaProducer``, or a function making one (aiokafka makes a producer on a running loop
        #: only, so the worker passes a factory and calls :meth:`start` from its service).
        self._producer = producer
        self._keys = KeyPartitions(partitioner)

    @property
    def producer(self) -> Any:
        """The producer; a :class:`PublishError` before :meth:`start` made it from a factory."""
        if callable(self._producer):
            raise PublishError("the publisher's producer is not started")
        return self._producer

    async def start(self) -> None:
        """Make the producer (when given a factory) and start it."""
        if callable(self._producer):
            self._producer = self._producer()
        await self._producer.start()

    async def stop(self) -> None:
        """Flush what is queued and stop the producer (nothing when it was never made)."""
        if not callable(self._producer):
            await self._producer.stop()

    async def _send_all(self, topic: str, records: Sequence[tuple[bytes | None, bytes]]) -> None:
        producer = self.producer
        self._keys.use(sorted(await producer.partitions_for(topic)))
        partition_of = self._keys.of
        by_partition: dict[int, list[tuple[bytes | None, bytes]]] = {}
        for record in records:
            by_partition.setdefault(partition_of(record[0]), []).append(record)
        acks = []
        for partition, group in by_partition.items():
            batch = producer.create_batch()
            for key, value in group:
                if batch.append(key=key, value=value, timestamp=None) is None:
                    acks.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
                    if batch.append(key=key, value=value, timestamp=None) is None:
                        raise PublishError(f"a record of {len(value)} bytes does not fit a record batch")
            acks.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*acks)
