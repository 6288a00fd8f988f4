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

from rnnstream import localservices
from rnnstream.localservices.cleanup import create_topics, delete_keys, delete_topics

__all__ = ["Services", "create_topics", "delete_keys", "delete_topics", "local_services"]

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
