"""A real Redis restarted under a store: ``ping`` answers at once.

Each test runs its own ``redis-server`` on a free port (never the shared one): it is flushed and restarted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rnnstream import localservices
from rnnstream.state.redis_store import RedisStateStore

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


async def test_ping_answers_at_once_after_a_restart(own_redis: OwnRedis, store: RedisStateStore) -> None:
    assert await store.ping()  # leaves a pooled connection, which the restart makes stale
    own_redis.restart()
    assert await store.ping()
