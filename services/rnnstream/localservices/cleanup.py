"""Topics and keys of one run (a test, the demo, a bench run): create its topics, and afterwards delete its
topics and its Redis keys by prefix. Never ``FLUSHALL``: the Redis may be shared."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from redis.asyncio import Redis


async def create_topics(
    bootstrap: str, names: list[str], partitions: int, config: Mapping[str, str] | None = None
) -> None:
    """Create ``names`` with ``partitions`` partitions each (and topic settings ``config``)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(n, num_partitions=partitions, replication_factor=1, topic_configs=dict(config or {}))
                for n in names
            ]
        )
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, names: list[str]) -> None:
    """Delete ``names``, best effort."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    with contextlib.suppress(Exception):  # best effort: not every broker deletes topics
        await admin.start()
        await admin.delete_topics(names)
    with contextlib.suppress(Exception):
        await admin.close()


async def delete_topics_containing(bootstrap: str, stem: str) -> list[str]:
    """Delete every topic whose name contains ``stem`` (a run's topics and those its applications created,
    such as a Quix changelog), best effort; returns the names it asked to delete."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    names: list[str] = []
    with contextlib.suppress(Exception):  # best effort, like delete_topics
        await admin.start()
        names = sorted(t for t in await admin.list_topics() if stem in t)
    with contextlib.suppress(Exception):
        await admin.close()
    if names:
        await delete_topics(bootstrap, names)
    return names


async def delete_keys(redis_url: str, prefix: str) -> int:
    """Delete every key under ``prefix:`` (SCAN + UNLINK); returns how many."""
    client: Redis = Redis.from_url(redis_url, decode_responses=False)
    deleted = 0
    try:
        batch: list[bytes] = []
        async for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                deleted += int(await client.unlink(*batch))
                batch = []
        if batch:
            deleted += int(await client.unlink(*batch))
    finally:
        await client.aclose()
    return deleted
