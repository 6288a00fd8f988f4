"""Run real ``rnnstream worker`` processes for integration tests, each with its own topics, group and keys."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from pathlib import Path

from rnnstream.clients.consumer import RecordReader
from rnnstream.clients.producer import EventProducer
from rnnstream.localservices import free_port, redis_url, start_redis
from rnnstream.localservices.cleanup import create_topics
from rnnstream.localservices.worker import Namespace, WorkerProcess
from tests.paths import REPOSITORY

__all__ = ["Topics", "WorkerProcess", "collect", "create_topics", "produce", "worker_on_own_redis"]


CREATED: list[str] = []  # key prefixes of this session's namespaces, deleted at the end (conftest.py)


class Topics(Namespace):
    """A namespace for one test."""

    def __init__(self) -> None:
        super().__init__(prefix="rnnstream-test")
        CREATED.append(self.key_prefix)

    def env(self, bootstrap: str, redis_url: str, model_repository: Path = REPOSITORY) -> dict[str, str]:
        return super().env(bootstrap, redis_url, model_repository)


async def produce(bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes]]) -> int:
    """Send ``(key, value)`` records as they are, with the client library's producer; returns how many."""
    n = 0
    async with EventProducer(bootstrap, topic, linger_ms=2) as producer:
        for key, value in records:
            await producer.send_record(key, value)
            n += 1
        await producer.flush()
    return n


async def collect(
    bootstrap: str, topic: str, *, until: int, timeout_s: float = 60.0, idle_s: float | None = None
) -> list[bytes]:
    """Read ``topic`` from the beginning until ``until`` records arrived (or the timeout / idle time), with the
    client library's reader."""
    out: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    async with RecordReader(bootstrap, topic, from_beginning=True) as reader:
        records = reader.records()
        try:
            while len(out) < until:
                left = deadline - time.monotonic()
                if idle_s is not None and out:
                    left = min(left, idle_s)
                if left <= 0:
                    break
                try:
                    record = await asyncio.wait_for(anext(records), timeout=left)
                except TimeoutError:
                    break
                out.append(record.value)
        finally:
            await records.aclose()
    return out


def worker_on_own_redis(bootstrap: str, tmp_path: Path) -> tuple[WorkerProcess, Topics, Path, int]:
    """A worker (not yet ready) on a Redis of its own, which the test may stop and start: the worker, its
    topics (one partition each), the Redis state directory and port."""
    state, port = tmp_path / "redis", free_port()
    start_redis(state, port=port)
    t = Topics()
    asyncio.run(create_topics(bootstrap, [t.input, t.predictions, t.dead_letters], partitions=1))
    return WorkerProcess(t.env(bootstrap, redis_url(port=port)), tmp_path / "worker.log"), t, state, port
