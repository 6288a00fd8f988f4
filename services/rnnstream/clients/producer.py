"""Publishing input events: an aiokafka producer with idempotent, ordered delivery per stream.

Events are written in the v2 binary format by default (``wire_format=1`` writes v1 JSON; docs/events.md), and
every event is keyed by its stream id, so a stream stays on one partition; ``acks="all"`` and
``enable_idempotence=True`` make a retried batch land once and in order. aiokafka sends one request per
broker at a time and holds back a partition while a batch of it is in flight, so order per stream holds
even without idempotence.

Some Kafka-protocol brokers refuse to hand out producer ids (the local tansu broker with memory storage
answers ``InitProducerId`` with an unknown error). With ``idempotence="auto"`` (the default) the producer
then logs a warning and carries on with ``acks="all"`` and ordered, non-idempotent delivery: a retry may
write a chunk twice, which the worker recognises by its ``seq`` and skips. ``idempotence="require"`` fails
instead.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Any, Literal

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError

from rnnstream.errors import ServiceError
from rnnstream.events import DEFAULT_WIRE_FORMAT, ChunkEvent, InputEvent, WireFormat, encode_event, event_key
from rnnstream.events.models import DEFAULT_INPUT_TOPIC

log = logging.getLogger(__name__)

Idempotence = Literal["auto", "require"]
DEFAULT_BROKER = "127.0.0.1:9092"
#: Futures kept before the producer waits for the oldest ones (bounds memory on very long inputs).
MAX_PENDING = 2000


def bootstrap_servers(broker: str) -> list[str]:
    """``host:port`` items from ``kafka://host:port,host:port`` (the worker's form) or plain ``host:port``."""
    items = [item.strip().removeprefix("kafka://") for item in broker.split(",")]
    if not all(items):
        raise ServiceError(f"broker {broker!r} is not a comma-separated list of host:port")
    return items


class EventProducer:
    """Sends input events to one topic. Use as ``async with EventProducer(...) as producer``.

    ``wire_format`` is how :meth:`send` encodes: 2 (binary, the default) or 1 (JSON).
    """

    def __init__(
        self,
        broker: str = DEFAULT_BROKER,
        topic: str = DEFAULT_INPUT_TOPIC,
        *,
        wire_format: WireFormat = DEFAULT_WIRE_FORMAT,
        idempotence: Idempotence = "auto",
        client_id: str = "rnnstream-producer",
        linger_ms: int = 5,
        **kafka_options: Any,
    ) -> None:
        if wire_format not in (1, 2):
            raise ValueError(f"unknown wire format {wire_format!r} (1: JSON, 2: binary)")
        self.topic = topic
        self.wire_format: WireFormat = wire_format
        self.servers = bootstrap_servers(broker)
        self.idempotence = idempotence
        self.idempotent = False
        self._options: dict[str, Any] = {"client_id": client_id, "linger_ms": linger_ms, **kafka_options}
        self._producer: AIOKafkaProducer | None = None
        self._pending: set[asyncio.Future[Any]] = set()
        self._failure: BaseException | None = None

    async def start(self) -> None:
        """Connect; falls back to non-idempotent delivery when allowed (see the module docstring)."""
        try:
            self._producer = await self._start(idempotent=True)
            self.idempotent = True
            return
        except KafkaConnectionError as exc:
            raise ServiceError(f"no Kafka broker answers at {','.join(self.servers)}: {exc}") from exc
        except KafkaError as exc:
            if self.idempotence == "require":
                raise ServiceError(f"the broker refused an idempotent producer: {exc!r}") from exc
            log.warning(
                "the broker refused an idempotent producer id (%r); sending with acks=all, ordered per "
                "stream, without idempotence (a retried chunk may arrive twice; the worker skips it by seq)",
                exc,
            )
        try:
            self._producer = await self._start(idempotent=False)
        except KafkaError as exc:
            raise ServiceError(f"cannot start a Kafka producer on {','.join(self.servers)}: {exc}") from exc

    async def _start(self, *, idempotent: bool) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.servers, acks="all", enable_idempotence=idempotent, **self._options
        )
        # aiokafka logs a refused InitProducerId as an error before raising it; we report it ourselves
        sender_log = logging.getLogger("aiokafka.producer.sender")
        level = sender_log.level
        if idempotent and self.idempotence == "auto":
            sender_log.setLevel(logging.CRITICAL)
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        finally:
            sender_log.setLevel(level)
        return producer

    async def send(self, event: ChunkEvent | InputEvent) -> None:
        """Queue ``event`` (keyed by its stream id, encoded in :attr:`wire_format`); delivery is confirmed by
        :meth:`flush`. A :class:`ChunkEvent` carries its frames as an array, so nothing is base64-encoded
        on the way to v2.

        Raises ``ValueError`` when a field is out of the format's bounds, :class:`ServiceError` when a
        previously queued event failed or the queue cannot take more.
        """
        await self.send_record(event_key(event.stream_id), encode_event(event, self.wire_format))

    async def send_record(self, key: bytes | None, value: bytes) -> None:
        """Queue one record as it is (to replay a dead letter's original, or to test what a worker does with
        a record no well-behaved producer sends); like :meth:`send` otherwise."""
        if self._producer is None:
            raise ServiceError("the producer is not started")
        self._raise_failure()
        if len(self._pending) >= MAX_PENDING:
            await asyncio.wait(set(self._pending), return_when=asyncio.FIRST_COMPLETED)
            self._raise_failure()
        try:
            future = await self._producer.send(self.topic, value, key=key)
        except KafkaError as exc:
            raise ServiceError(f"cannot send to {self.topic}: {exc}") from exc
        self._pending.add(future)
        future.add_done_callback(self._settled)

    async def send_and_wait(self, event: ChunkEvent | InputEvent) -> None:
        """Send ``event`` and wait until the broker has it."""
        await self.send(event)
        await self.flush()

    def _settled(self, future: asyncio.Future[Any]) -> None:
        self._pending.discard(future)
        if self._failure is None:
            if future.cancelled():
                self._failure = asyncio.CancelledError()
            else:
                self._failure = future.exception()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise ServiceError(f"an event for {self.topic} was not delivered: {self._failure!r}") from (
                self._failure
            )

    async def flush(self) -> None:
        """Wait until every queued event is acknowledged; raises :class:`ServiceError` if one failed."""
        if self._producer is None:
            return
        if self._pending:
            await asyncio.wait(set(self._pending))
        self._raise_failure()

    async def stop(self) -> None:
        """Flush what is queued and disconnect."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def __aenter__(self) -> EventProducer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                await self.flush()
        finally:
            await self.stop()
