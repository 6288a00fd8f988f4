"""``rnnstream services up|down|status``: the local broker (tansu) and Redis for development and tests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rnnstream.errors import ServiceError
from rnnstream.localservices import (
    DEFAULT_BROKER_PORT,
    DEFAULT_REDIS_PORT,
    DEFAULT_STATE_DIR,
    ServiceStatus,
    broker_status,
    redis_status,
    start_broker,
    start_redis,
    stop_broker,
    stop_redis,
)

app = typer.Typer(
    help=(
        "Local services for development and tests: a Kafka-protocol broker (tansu, memory storage) and "
        "Redis. Pid files and logs live in the state directory; 'down' stops only what 'up' started there, "
        "never a Redis or broker that was already running."
    ),
    no_args_is_help=True,
)

BrokerPort = Annotated[
    int, typer.Option("--broker-port", help="TCP port of the broker on 127.0.0.1.", min=1, max=65535)
]
RedisPort = Annotated[
    int,
    typer.Option(
        "--redis-port",
        help="TCP port of Redis on 127.0.0.1. A Redis already answering PING there is used as is.",
        min=1,
        max=65535,
    ),
]
StateDir = Annotated[
    Path,
    typer.Option("--state-dir", help="Where pid files, records and logs are kept.", file_okay=False),
]
WithBroker = Annotated[bool, typer.Option("--broker/--no-broker", help="Include the broker.")]
WithRedis = Annotated[bool, typer.Option("--redis/--no-redis", help="Include Redis.")]


def _print(status: ServiceStatus) -> None:
    typer.echo(status.describe())


@app.command()
def up(
    broker_port: BrokerPort = DEFAULT_BROKER_PORT,
    redis_port: RedisPort = DEFAULT_REDIS_PORT,
    state_dir: StateDir = DEFAULT_STATE_DIR,
    broker: WithBroker = True,
    redis: WithRedis = True,
) -> None:
    """Start the broker and Redis unless they already run; prints where clients reach them."""
    try:
        if broker:
            _print(start_broker(state_dir, port=broker_port))
        if redis:
            _print(start_redis(state_dir, port=redis_port))
    except ServiceError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


@app.command()
def down(
    state_dir: StateDir = DEFAULT_STATE_DIR,
    broker: WithBroker = True,
    redis: WithRedis = True,
) -> None:
    """Stop the services that 'up' started from this state directory (nothing else)."""
    stopped = [stop_broker(state_dir) if broker else None, stop_redis(state_dir) if redis else None]
    for status in stopped:
        if status is not None:
            _print(status)
    if not any(stopped):
        typer.echo(f"nothing to stop in {state_dir}")


@app.command()
def status(
    broker_port: BrokerPort = DEFAULT_BROKER_PORT,
    redis_port: RedisPort = DEFAULT_REDIS_PORT,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Show whether the broker and Redis answer. Exit code 0 when both do, 3 otherwise."""
    statuses = [
        broker_status(state_dir, port=broker_port),
        redis_status(state_dir, port=redis_port),
    ]
    for one in statuses:
        _print(one)
    if not all(s.running for s in statuses):
        raise typer.Exit(3)
