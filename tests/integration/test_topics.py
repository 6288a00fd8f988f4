"""The worker creates its missing topics with ``topic_partitions`` partitions, and leaves existing ones."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer

from rnnstream.worker.settings import load_settings
from rnnstream.worker.topics import ensure_topics

pytestmark = pytest.mark.services


async def _partitions(bootstrap: str, topic: str) -> set[int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        return consumer.partitions_for_topic(topic) or set()
    finally:
        await consumer.stop()


def test_ensure_topics_creates_missing_with_partitions(broker_bootstrap: str) -> None:
    tag = uuid.uuid4().hex[:8]
    settings = load_settings(
        broker=f"kafka://{broker_bootstrap}",
        input_topic=f"in-{tag}",
        prediction_topic=f"out-{tag}",
        dead_letter_topic=f"dlq-{tag}",
        topic_partitions=6,
    )
    assert sorted(asyncio.run(ensure_topics(settings))) == sorted([f"in-{tag}", f"out-{tag}", f"dlq-{tag}"])
    assert asyncio.run(ensure_topics(settings)) == []
    assert asyncio.run(_partitions(broker_bootstrap, f"in-{tag}")) == set(range(6))
