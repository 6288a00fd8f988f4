"""The broker and Redis of one run (a bench, the demo, a test session): the given ones, else private ones
started now and stopped when the run ends.

* broker: the given ``host:port``, else a tansu broker on a free port in ``state_dir/broker``;
* Redis: the given URL, else the shared one on ``127.0.0.1:6379`` when it answers (callers then use their own
  key prefix and never ``FLUSHALL``), else a ``redis-server`` on a free port in ``state_dir/redis``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rnnstream.localservices.broker import start_broker, stop_broker
from rnnstream.localservices.process import free_port
from rnnstream.localservices.redis_server import DEFAULT_REDIS_PORT, ping, redis_url, start_redis, stop_redis

#: The Redis a developer machine (and CI) usually runs; used when it answers and no URL is given.
SHARED_REDIS_URL = redis_url(port=DEFAULT_REDIS_PORT)


def _quiet(_: str) -> None:
    pass


@dataclass
class Services:
    """Where the broker and Redis are, and the pids of those this run started."""

    bootstrap: str
    redis_url: str
    pids: dict[str, int] = field(default_factory=dict)


@contextlib.contextmanager
def broker_for_run(
    address: str | None, state_dir: Path, note: Callable[[str], None] = _quiet
) -> Iterator[tuple[str, int | None]]:
    """``(bootstrap, pid)``: ``address`` as given (pid ``None``), else a private tansu broker."""
    if address:
        yield address.removeprefix("kafka://"), None
        return
    note("starting a private tansu broker")
    status = start_broker(state_dir / "broker", port=free_port())
    try:
        yield status.address, status.pid
    finally:
        stop_broker(state_dir / "broker")


@contextlib.contextmanager
def redis_for_run(
    url: str | None, state_dir: Path, note: Callable[[str], None] = _quiet
) -> Iterator[tuple[str, int | None]]:
    """``(url, pid)``: ``url`` as given, else the shared Redis when it answers, else a private one."""
    if url:
        yield url, None
        return
    if ping(SHARED_REDIS_URL):
        yield SHARED_REDIS_URL, None
        return
    note("starting a private redis-server")
    port = free_port()
    status = start_redis(state_dir / "redis", port=port)
    try:
        yield redis_url(port=port), status.pid
    finally:
        stop_redis(state_dir / "redis")


@contextlib.contextmanager
def services_for_run(
    broker: str | None, redis: str | None, state_dir: Path, note: Callable[[str], None] = _quiet
) -> Iterator[Services]:
    """Both, as :class:`Services` (see the module docstring)."""
    with (
        broker_for_run(broker, state_dir, note) as (bootstrap, broker_pid),
        redis_for_run(redis, state_dir, note) as (url, redis_pid),
    ):
        pids = {name: pid for name, pid in (("broker", broker_pid), ("redis", redis_pid)) if pid}
        yield Services(bootstrap, url, pids)
