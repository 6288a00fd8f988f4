"""Fixtures for the state store contract: a real Redis.

Redis comes from the session fixture ``redis_url`` (``tests/services_fixtures.py``).
Every key written lives under one random prefix per session, and only those keys are deleted at the end.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
import redis

from rnnstream.localservices.cleanup import delete_keys
from rnnstream.localservices.redis_cluster import redis_cluster


@pytest.fixture(scope="session")
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A random key prefix for this session; its keys (and only those) are deleted afterwards."""
    prefix = f"rnnstream-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    asyncio.run(delete_keys(redis_url, prefix))


@pytest.fixture
def raw_redis(redis_url: str) -> Iterator[redis.Redis]:
    """A plain synchronous client, for poking at stored values."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real three-node Redis Cluster (no replicas) on free ports, for this test session only."""
    with redis_cluster(tmp_path_factory.mktemp("redis-cluster"), nodes=3) as url:
        yield url
