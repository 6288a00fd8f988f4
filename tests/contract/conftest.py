"""Fixtures for the state store contract: a real Redis.

Redis comes from the session fixture ``redis_url`` (``tests/services_fixtures.py``).
Every key written lives under one random prefix per session, and only those keys are deleted at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis


@pytest.fixture(scope="session")
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A random key prefix for this session; its keys (and only those) are deleted afterwards."""
    prefix = f"rnnstream-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    finally:
        client.close()


@pytest.fixture
def raw_redis(redis_url: str) -> Iterator[redis.Redis]:
    """A plain synchronous client, for poking at stored values."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()
