"""Run real ``rnnstream worker`` processes for integration tests, each with its own topics, group and keys."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from rnnstream.localservices.cleanup import create_topics
from rnnstream.localservices.worker import Namespace, WorkerProcess
from tests.paths import REPOSITORY

__all__ = ["Topics", "WorkerProcess", "collect", "create_topics", "produce"]


CREATED: list[str] = []  # key prefixes of this session's namespaces, deleted at the end (conftest.py)


class Topics(Namespace):
    """A namespace for one test."""

    def __init__(self) -> None:
        super().__init__(prefix="rnnstream-test")
        CREATED.append(self.key_prefix)

    def env(self, bootstrap: str, redis_url: str, model_repository: Path = REPOSITORY) -> dict[str, str]:
        return super().env(bootstrap, redis_url, model_repository)


async def produce(bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes]]) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    await producer.start()
    n = 0
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*futures)
        n = len(futures)
    finally:
        await producer.stop()
    return n


async def collect(
    bootstrap: str, topic: str, *, until: int, timeout_s: float = 60.0, idle_s: float | None = None
) -> list[bytes]:
    """Read ``topic`` from the beginning until ``until`` records arrived (or the timeout / idle time)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    out: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    last = time.monotonic()
    try:
        while len(out) < until and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                out.extend(r.value for r in records if r.value is not None)
                last = time.monotonic()
            if idle_s is not None and out and time.monotonic() - last > idle_s:
                break
    finally:
        await consumer.stop()
    return out
