"""Reading prediction events: an aiokafka consumer over every partition of the prediction topic.

The reader joins no consumer group (it reads every partition itself and commits nothing), so any number of
tails and clients can watch the same topic. It starts at the end of the topic by default
(``from_beginning=False``: only predictions made after :meth:`PredictionReader.start` returned) or at the
beginning. Records that are not prediction events are counted in :attr:`PredictionReader.skipped` and
logged, never raised: one bad record must not stop a dashboard.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaConnectionError, KafkaError

from rnnstream.clients.chunks import now_ms
from rnnstream.clients.producer import DEFAULT_BROKER, bootstrap_servers
from rnnstream.errors import EventError, ServiceError
from rnnstream.events import PredictionEvent, decode_prediction
from rnnstream.events.models import DEFAULT_PREDICTION_TOPIC

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReceivedPrediction:
    """A prediction event and where and when it was read."""

    event: PredictionEvent
    partition: int
    offset: int
    received_at_ms: int

    @property
    def latency_ms(self) -> int:
        """Worker latency: ``predicted_at_ms - produced_at_ms`` (both wall clocks)."""
        return self.event.predicted_at_ms - self.event.produced_at_ms


@dataclass(frozen=True)
class ReceivedRecord:
    """A record as read from a topic: key, value, and where and when it was read."""

    key: bytes | None
    value: bytes
    partition: int
    offset: int
    received_at_ms: int


class RecordReader:
    """Iterate the raw records of a topic (dead letters, say): ``async with RecordReader(...) as reader:
    async for record in reader``. :class:`PredictionReader` decodes prediction events on top of it."""

    def __init__(
        self,
        broker: str = DEFAULT_BROKER,
        topic: str = DEFAULT_PREDICTION_TOPIC,
        *,
        from_beginning: bool = False,
        fetch_max_wait_ms: int = 50,
        **kafka_options: Any,
    ) -> None:
        self.topic = topic
        self.servers = bootstrap_servers(broker)
        self.from_beginning = from_beginning
        self._options: dict[str, Any] = {
            "client_id": "rnnstream-tail",
            "fetch_max_wait_ms": fetch_max_wait_ms,
            "metadata_max_age_ms": 5000,  # pick up a topic or partitions created after the start
            **kafka_options,
        }
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self, *, timeout_s: float = 30.0) -> None:
        """Connect and wait until every partition of the topic has a position to read from.

        Predictions made after this returns are seen even with ``from_beginning=False``. Raises
        :class:`ServiceError` when the broker does not answer or the topic has no partitions in time.
        """
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest" if self.from_beginning else "latest",
            **self._options,
        )
        try:
            await consumer.start()
            consumer.subscribe([self.topic])
            await asyncio.wait_for(self._resolve_positions(consumer), timeout_s)
        except BaseException as exc:
            await consumer.stop()
            if isinstance(exc, KafkaConnectionError):
                raise ServiceError(f"no Kafka broker answers at {','.join(self.servers)}: {exc}") from exc
            if isinstance(exc, TimeoutError):
                raise ServiceError(
                    f"topic {self.topic} has no readable partitions after {timeout_s} s"
                ) from exc
            if isinstance(exc, KafkaError):
                raise ServiceError(f"cannot read {self.topic}: {exc}") from exc
            raise
        self._consumer = consumer

    @staticmethod
    async def _resolve_positions(consumer: AIOKafkaConsumer) -> None:
        while not consumer.assignment():
            await asyncio.sleep(0.05)
        for partition in consumer.assignment():
            await consumer.position(partition)

    @property
    def partitions(self) -> int:
        """Partitions being read."""
        return len(self._consumer.assignment()) if self._consumer is not None else 0

    async def records(self) -> AsyncIterator[ReceivedRecord]:
        """Every record as it arrives (values that are ``null`` are skipped)."""
        if self._consumer is None:
            raise ServiceError(f"the reader of {self.topic} is not started")
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=200)
            except KafkaError as exc:
                raise ServiceError(f"reading {self.topic} failed: {exc}") from exc
            received = now_ms()
            for batch in batches.values():
                for r in batch:
                    if r.value is not None:
                        yield ReceivedRecord(r.key, r.value, r.partition, r.offset, received)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self.records()

    async def stop(self) -> None:
        """Disconnect."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


class PredictionReader(RecordReader):
    """Iterate prediction events: ``async with PredictionReader(...) as reader: async for p in reader``.

    ``stream_ids`` keeps only those streams; ``final_only`` only final predictions.
    """

    def __init__(
        self,
        broker: str = DEFAULT_BROKER,
        topic: str = DEFAULT_PREDICTION_TOPIC,
        *,
        from_beginning: bool = False,
        stream_ids: Collection[str] | None = None,
        final_only: bool = False,
        fetch_max_wait_ms: int = 50,
        **kafka_options: Any,
    ) -> None:
        super().__init__(
            broker, topic, from_beginning=from_beginning, fetch_max_wait_ms=fetch_max_wait_ms, **kafka_options
        )
        self.stream_ids = frozenset(stream_ids) if stream_ids else None
        self.final_only = final_only
        self.skipped = 0

    def _keep(self, event: PredictionEvent) -> bool:
        if self.final_only and not event.final:
            return False
        return self.stream_ids is None or event.stream_id in self.stream_ids

    async def predictions(self) -> AsyncIterator[ReceivedPrediction]:
        """Every prediction event that passes the filters; a record that is none is logged and skipped."""
        async for record in self.records():
            try:
                event = decode_prediction(record.value)
            except EventError as exc:
                self.skipped += 1
                log.warning(
                    "%s[%d]@%d is not a prediction event: %s",
                    self.topic,
                    record.partition,
                    record.offset,
                    exc,
                )
                continue
            if self._keep(event):
                yield ReceivedPrediction(event, record.partition, record.offset, record.received_at_ms)

    def __aiter__(self) -> AsyncIterator[ReceivedPrediction]:
        return self.predictions()
