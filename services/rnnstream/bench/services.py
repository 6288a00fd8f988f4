"""The broker, Redis, topics and keys of a bench run.

Without an address the run starts its own tansu broker (and, when no Redis answers on the default address, its
own ``redis-server``) through :mod:`rnnstream.localservices`, in a private state directory, and stops them at
the end. Keys are deleted by prefix, never with ``FLUSHALL``: the Redis may be shared.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from redis.asyncio import Redis

from rnnstream import localservices

SHARED_REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass
class Services:
    """Where the broker and Redis are, and the pids of those this run started."""

    bootstrap: str
    redis_url: str
    pids: dict[str, int] = field(default_factory=dict)


@contextlib.contextmanager
def local_services(
    broker: str | None, redis_url: str | None, state_dir: Path, note: Callable[[str], None]
) -> Iterator[Services]:
    """The broker and Redis of a run: the given ones, else private ones started now and stopped at exit.

    Without a Redis URL the shared ``redis://127.0.0.1:6379/0`` is used when it answers.
    """
    started: list[Callable[[], object]] = []
    try:
        pids: dict[str, int] = {}
        bootstrap = broker
        if bootstrap is None:
            note("starting a private tansu broker")
            status = localservices.start_broker(state_dir / "broker", port=localservices.free_port())
            started.append(lambda: localservices.stop_broker(state_dir / "broker"))
            bootstrap = status.address
            if status.pid:
                pids["broker"] = status.pid
        if redis_url is None and localservices.ping(SHARED_REDIS_URL):
            redis_url = SHARED_REDIS_URL
        if redis_url is None:
            note("starting a private redis-server")
            port = localservices.free_port()
            status = localservices.start_redis(state_dir / "redis", port=port)
            started.append(lambda: localservices.stop_redis(state_dir / "redis"))
            redis_url = localservices.redis_url(port=port)
            if status.pid:
                pids["redis"] = status.pid
        yield Services(bootstrap.removeprefix("kafka://"), redis_url, pids)
    finally:
        for stop in reversed(started):
            stop()


async def create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    """Create ``names`` with ``partitions`` partitions each."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names]
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
