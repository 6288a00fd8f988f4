"""A real Redis losing its data is seen by the worker's epoch watch; one that keeps it is not; ``ping`` after a
restart answers at once.

Each test runs its own ``redis-server`` on a free port (never the shared one): it is flushed and restarted.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import redis
from prometheus_client import CollectorRegistry

from rnnstream import localservices
from rnnstream.core.records import StateKey, StateWrite, StreamRecord
from rnnstream.localservices.redis_server import find_redis_server
from rnnstream.state.redis_store import RedisStateStore
from rnnstream.worker.epoch import EpochCheck, EpochWatch
from rnnstream.worker.metrics import WorkerMetrics

PREFIX = "rnnstream-test-loss"


@dataclass
class OwnRedis:
    """A throw-away Redis without persistence, restartable on the same port."""

    state_dir: Path
    port: int

    @property
    def url(self) -> str:
        return localservices.redis_url(port=self.port)

    def restart(self) -> None:
        localservices.stop_redis(self.state_dir)
        localservices.start_redis(self.state_dir, port=self.port)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path / "redis", localservices.free_port())
    localservices.start_redis(server.state_dir, port=server.port)
    try:
        yield server
    finally:
        localservices.stop_redis(server.state_dir)


@pytest.fixture
async def store(own_redis: OwnRedis) -> AsyncIterator[RedisStateStore]:
    state = RedisStateStore.from_url(own_redis.url, prefix=PREFIX)
    yield state
    await state.close()


def watch_of(store: RedisStateStore) -> tuple[EpochWatch, CollectorRegistry]:
    registry = CollectorRegistry()
    return EpochWatch(store, WorkerMetrics(registry)), registry


def changes(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("rnnstream_state_epoch_changes_total")


KEY = StateKey("sms-spam-lstm", "1", "stream-1")
RECORD = StreamRecord(seq=0, steps_seen=3, chunks=1, tensors={"h": np.zeros((1, 4), np.float32)})


async def test_ping_answers_at_once_after_a_restart(own_redis: OwnRedis, store: RedisStateStore) -> None:
    assert await store.ping()  # leaves a pooled connection, which the restart makes stale
    own_redis.restart()
    assert await store.ping()


async def test_flushall_is_a_state_loss(own_redis: OwnRedis, store: RedisStateStore) -> None:
    watch, registry = watch_of(store)
    assert await watch.check() is EpochCheck.FIRST
    await store.store_many([StateWrite(KEY, None, RECORD)], ttl_s=600)
    assert await watch.check() is EpochCheck.SAME
    client = redis.Redis.from_url(own_redis.url)
    try:
        client.flushall()
    finally:
        client.close()
    assert await store.load_many([KEY]) == [None]  # the stream's state is gone
    assert await watch.check() is EpochCheck.CHANGED
    assert changes(registry) == 1
    assert await watch.check() is EpochCheck.SAME
    assert changes(registry) == 1


async def test_restart_without_persistence_is_a_state_loss(
    own_redis: OwnRedis, store: RedisStateStore
) -> None:
    watch, registry = watch_of(store)
    other, other_registry = watch_of(store)  # a second worker watching the same store
    assert await watch.check() is EpochCheck.FIRST
    assert await other.check() is EpochCheck.FIRST
    own_redis.restart()
    assert await watch.check() is EpochCheck.CHANGED  # one call, even on the connection made stale
    assert await other.check() is EpochCheck.CHANGED  # sees the epoch the first one made
    assert watch.current == other.current
    assert changes(registry) == 1 and changes(other_registry) == 1


async def test_restart_with_aof_keeps_the_epoch(tmp_path: Path) -> None:
    port = localservices.free_port()
    argv = [str(find_redis_server()), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path)]
    argv += ["--save", "", "--appendonly", "yes", "--appendfsync", "always"]

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):  # a guard against hanging, not a speed check
            if localservices.ping(localservices.redis_url(port=port)):
                return proc
            time.sleep(0.05)
        proc.kill()
        raise AssertionError("redis-server with AOF did not start")

    def stop(proc: subprocess.Popen[bytes]) -> None:
        proc.terminate()
        proc.wait(timeout=30)

    proc = start()
    store = RedisStateStore.from_url(localservices.redis_url(port=port), prefix=PREFIX)
    try:
        watch, registry = watch_of(store)
        assert await watch.check() is EpochCheck.FIRST
        stop(proc)
        proc = start()
        assert await watch.check() is EpochCheck.SAME
        assert changes(registry) == 0
    finally:
        await store.close()
        stop(proc)
