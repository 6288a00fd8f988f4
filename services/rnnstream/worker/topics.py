"""Create the worker's topics (input, predictions, dead letters) before the consumer subscribes, so the
input topic gets ``topic_partitions`` partitions instead of the broker's auto-create default. Topics that
already exist are left as they are (their partition count is the operator's)."""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from rnnstream.errors import ServiceError
from rnnstream.worker.kafka_client import KafkaConnection
from rnnstream.worker.settings import WorkerSettings


async def ensure_topics(settings: WorkerSettings, replication_factor: int = 1) -> list[str]:
    """Create the missing topics; returns the names created."""
    admin = AIOKafkaAdminClient(**KafkaConnection.from_settings(settings).aiokafka_kwargs())
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        wanted = [settings.input_topic, settings.prediction_topic, settings.dead_letter_topic]
        missing = [t for t in wanted if t not in existing]
        for name in missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(
                            name,
                            num_partitions=settings.topic_partitions,
                            replication_factor=replication_factor,
                        )
                    ]
                )
        return missing
    except KafkaError as exc:
        raise ServiceError(f"cannot create topics on {settings.bootstrap_servers}: {exc}") from exc
    finally:
        await admin.close()


def ensure_topics_sync(settings: WorkerSettings) -> list[str]:
    """``ensure_topics`` from synchronous code (before the faust worker owns the loop)."""
    return asyncio.run(ensure_topics(settings))
