"""The batch processor's publisher over any Kafka client: one class for faust's producer (the worker) and
aiokafka's (the bench's in-process pipeline).

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

#: Queue one record, get a future of the broker's acknowledgement.
SendRecord = Callable[[str, bytes | None, bytes], Awaitable[Awaitable[Any]]]


class TopicPublisher:
    """Publishes predictions and dead letters to their topics and waits for the acknowledgements."""

    def __init__(self, send: SendRecord, prediction_topic: str, dead_letter_topic: str) -> None:
        self._send_record = send
        self.prediction_topic = prediction_topic
        self.dead_letter_topic = dead_letter_topic

    async def _send(self, topic: str, records: Sequence[tuple[bytes | None, bytes]]) -> None:
        try:
            acks = [await self._send_record(topic, key, value) for key, value in records]
            await asyncio.gather(*acks)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise PublishError(f"publishing {len(records)} records to {topic} failed: {exc}") from exc

    async def send_predictions(self, records: Sequence[tuple[bytes, bytes]]) -> None:
        """Send ``(key, value)`` predictions; returns once the broker has all of them."""
        await self._send(self.prediction_topic, records)

    async def send_dead_letters(self, records: Sequence[tuple[bytes | None, bytes]]) -> None:
        """Send ``(key, value)`` dead letters; returns once the broker has all of them."""
        await self._send(self.dead_letter_topic, records)
