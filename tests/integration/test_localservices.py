"""The local services: a real tansu broker and a real redis-server, started and stopped for real."""

from __future__ import annotations

import os
import signal
import socket
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from redis import Redis

from rnnstream.errors import ServiceError
from rnnstream.kafka import kafka_metadata
from rnnstream.localservices import (
    broker_status,
    free_port,
    ping,
    redis_status,
    start_broker,
    start_redis,
    stop_all,
    stop_redis,
)
from rnnstream.localservices.cleanup import create_topics
from rnnstream.localservices.process import wait_until

pytestmark = pytest.mark.services


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


async def test_a_message_goes_through_the_broker(broker_bootstrap: str) -> None:
    topic = f"localservices-{uuid.uuid4().hex[:8]}"
    await create_topics(broker_bootstrap, [topic], partitions=1)

    producer = AIOKafkaProducer(bootstrap_servers=broker_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b'{"hello": 1}', key=b"stream-1")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker_bootstrap, auto_offset_reset="earliest", fetch_max_wait_ms=50
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        message = await consumer.getone()
    finally:
        await consumer.stop()
    assert (message.key, message.value) == (b"stream-1", b'{"hello": 1}')


def test_broker_answers_metadata_with_its_advertised_address(tmp_path: Path) -> None:
    port = free_port()
    status = start_broker(tmp_path, port=port)
    try:
        assert status.running and status.managed
        brokers = kafka_metadata("127.0.0.1", port)
        assert [(b.host, b.port) for b in brokers] == [("127.0.0.1", port)]
        again = start_broker(tmp_path, port=port)  # idempotent: same process
        assert again.pid == status.pid
    finally:
        stop_all(tmp_path)


def test_own_redis_answers_ping_and_down_leaves_no_process(tmp_path: Path) -> None:
    broker = start_broker(tmp_path, port=free_port())
    redis_port = free_port()
    redis = start_redis(tmp_path, port=redis_port)
    assert redis.managed and redis.address == f"redis://127.0.0.1:{redis_port}/0"
    assert ping(redis.address)
    assert (tmp_path / "redis.pid").read_text().strip() == str(redis.pid)

    stopped = stop_all(tmp_path)

    assert {s.name for s in stopped} == {"broker", "redis"}
    assert broker.pid is not None and _gone(broker.pid)
    assert redis.pid is not None and _gone(redis.pid)
    assert not ping(redis.address)
    assert not broker_status(tmp_path, port=int(broker.address.rsplit(":", 1)[1])).running
    assert not list(tmp_path.glob("*.pid"))
    assert stop_all(tmp_path) == []  # a second down has nothing to do


def test_a_redis_started_elsewhere_is_used_and_never_stopped(tmp_path: Path) -> None:
    owner, user = tmp_path / "owner", tmp_path / "user"
    port = free_port()
    started = start_redis(owner, port=port)
    try:
        used = start_redis(user, port=port)
        assert used.running and not used.managed
        assert stop_redis(user) is None
        assert ping(started.address)
        assert redis_status(user, port=port).running
    finally:
        stop_redis(owner)


def test_a_port_taken_by_something_else_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(ServiceError, match="does not answer Redis PING"):
            start_redis(tmp_path, port=port)
        with pytest.raises(ServiceError, match="does not speak Kafka"):
            start_broker(tmp_path, port=port)


def test_a_failed_start_reports_the_log_tail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "tansu"
    fake.write_text("#!/bin/sh\necho 'error: cannot bind: permission denied' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("RNNSTREAM_TANSU_BIN", str(fake))
    with pytest.raises(ServiceError, match="cannot bind: permission denied"):
        start_broker(tmp_path / "state", port=free_port(), timeout_s=5)
    assert not (tmp_path / "state" / "broker.pid").exists()


def test_a_persistent_redis_keeps_its_writes_across_a_sigkill(tmp_path: Path) -> None:
    port = free_port()
    first = start_redis(tmp_path, port=port, persistent=True)
    assert first.pid is not None
    client = Redis.from_url(first.address)
    try:
        client.set("chaos:kept", b"42")
        os.kill(first.pid, signal.SIGKILL)  # no shutdown save: only the fsynced AOF can bring it back
        assert wait_until(lambda: not redis_status(tmp_path, port=port).running, 5.0)
        again = start_redis(tmp_path, port=port, persistent=True)
        assert again.pid != first.pid
        assert client.get("chaos:kept") == b"42"
    finally:
        client.close()
        stop_redis(tmp_path)
