"""Session fixtures for tests that need a real broker or Redis (import from ``tests/conftest.py``).

* ``broker_bootstrap``: ``$RNNSTREAM_TEST_BROKER`` (``host:port``) when set, else a tansu broker started on a
  free port for the session and stopped at its end. Yields ``"127.0.0.1:PORT"``.
* ``redis_url``: ``$RNNSTREAM_TEST_REDIS_URL`` when set, else ``redis://127.0.0.1:6379/0`` when it answers
  PING, else a ``redis-server`` started on a free port for the session. Tests sharing a Redis must use their
  own key prefixes and never ``FLUSHALL``.

Both come from :mod:`rnnstream.localservices.session`, as for the bench and the demo. A service that cannot
be started fails the tests that asked for it, with the service's log tail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from rnnstream.localservices.session import broker_for_run, redis_for_run

BROKER_ENV = "RNNSTREAM_TEST_BROKER"
REDIS_ENV = "RNNSTREAM_TEST_REDIS_URL"


@pytest.fixture(scope="session")
def broker_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers (``host:port``) of a Kafka-protocol broker for the whole test session."""
    with broker_for_run(os.environ.get(BROKER_ENV), tmp_path_factory.mktemp("services")) as (address, _):
        yield address


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a Redis for the whole test session."""
    with redis_for_run(os.environ.get(REDIS_ENV), tmp_path_factory.mktemp("services")) as (url, _):
        yield url
