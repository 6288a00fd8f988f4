"""Session fixtures for tests that need a real broker or Redis (import from ``tests/conftest.py``).

* ``broker_bootstrap``: ``$RNNSTREAM_TEST_BROKER`` (``host:port``) when set, else a tansu broker started on a
  free port for the session and stopped at its end. Yields ``"127.0.0.1:PORT"``.
* ``redis_url``: ``$RNNSTREAM_TEST_REDIS_URL`` when set, else ``redis://127.0.0.1:6379/0`` when it answers
  PING, else a ``redis-server`` started on a free port for the session. Tests sharing a Redis must use their
  own key prefixes and never ``FLUSHALL``.

A service that cannot be started fails the tests that asked for it, with the service's log tail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from rnnstream import localservices

BROKER_ENV = "RNNSTREAM_TEST_BROKER"
REDIS_ENV = "RNNSTREAM_TEST_REDIS_URL"
SHARED_REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def broker_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers (``host:port``) of a Kafka-protocol broker for the whole test session."""
    external = os.environ.get(BROKER_ENV)
    if external:
        yield external
        return
    state_dir = tmp_path_factory.mktemp("broker")
    status = localservices.start_broker(state_dir, port=localservices.free_port())
    try:
        yield status.address
    finally:
        localservices.stop_broker(state_dir)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a Redis for the whole test session."""
    external = os.environ.get(REDIS_ENV)
    if external:
        yield external
        return
    if localservices.ping(SHARED_REDIS_URL):
        yield SHARED_REDIS_URL
        return
    state_dir = tmp_path_factory.mktemp("redis")
    port = localservices.free_port()
    localservices.start_redis(state_dir, port=port)
    try:
        yield localservices.redis_url(port=port)
    finally:
        localservices.stop_redis(state_dir)
