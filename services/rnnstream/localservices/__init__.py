"""Local services for development and tests: a Kafka-protocol broker (tansu) and Redis.

Both run as child processes recorded in a state directory (``./var/services`` by default: pid files,
``*.json`` records and logs), so ``rnnstream services up`` can return and a later ``down`` can stop them.
``up`` is idempotent, and ``down`` stops only what this state directory started: a Redis (or broker) that
was already running is used, never stopped.

    from rnnstream.localservices import start_broker, start_redis, stop_all
    broker = start_broker("var/services", port=9092)   # ServiceStatus(address="127.0.0.1:9092", ...)
    redis = start_redis("var/services", port=6379)     # address="redis://127.0.0.1:6379/0"
    stop_all("var/services")
"""

from __future__ import annotations

from pathlib import Path

from rnnstream.localservices.broker import (
    DEFAULT_BROKER_PORT,
    broker_status,
    find_tansu,
    start_broker,
    stop_broker,
    wait_for_broker,
)
from rnnstream.localservices.process import DEFAULT_STATE_DIR, free_port, resolve_state_dir
from rnnstream.localservices.redis_server import (
    DEFAULT_REDIS_PORT,
    find_redis_server,
    ping,
    redis_status,
    redis_url,
    start_redis,
    stop_redis,
)
from rnnstream.localservices.status import ServiceStatus

__all__ = [
    "DEFAULT_BROKER_PORT",
    "DEFAULT_REDIS_PORT",
    "DEFAULT_STATE_DIR",
    "ServiceStatus",
    "broker_status",
    "find_redis_server",
    "find_tansu",
    "free_port",
    "ping",
    "redis_status",
    "redis_url",
    "resolve_state_dir",
    "start_broker",
    "start_redis",
    "stop_all",
    "stop_broker",
    "stop_redis",
    "wait_for_broker",
]


def stop_all(state_dir: Path | str | None = None) -> list[ServiceStatus]:
    """Stop every service ``state_dir`` started (broker and Redis); returns what was stopped."""
    stopped = [stop_broker(state_dir), stop_redis(state_dir)]
    return [s for s in stopped if s is not None]
