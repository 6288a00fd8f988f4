"""Run real ``rnnstream worker`` processes for integration tests, each with its own topics, group and keys."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from rnnstream.localservices import free_port
from tests.paths import ROOT

RNNSTREAM = Path(sys.executable).parent / "rnnstream"


@dataclass
class Topics:
    """Unique names for one test: topics, consumer group, Redis key prefix."""

    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:10])

    @property
    def input(self) -> str:
        return f"t-{self.tag}.events"

    @property
    def predictions(self) -> str:
        return f"t-{self.tag}.predictions"

    @property
    def dead_letters(self) -> str:
        return f"t-{self.tag}.deadletter"

    def env(self, bootstrap: str, redis_url: str) -> dict[str, str]:
        return {
            "RNNSTREAM_BROKER": f"kafka://{bootstrap}",
            "RNNSTREAM_REDIS_URL": redis_url,
            "RNNSTREAM_REDIS_KEY_PREFIX": f"rnnstream-test-{self.tag}",
            "RNNSTREAM_APP_ID": f"rnnstream-test-{self.tag}",
            "RNNSTREAM_INPUT_TOPIC": self.input,
            "RNNSTREAM_PREDICTION_TOPIC": self.predictions,
            "RNNSTREAM_DEAD_LETTER_TOPIC": self.dead_letters,
            "RNNSTREAM_MODEL_REPOSITORY": str(ROOT / "models" / "repository"),
            "RNNSTREAM_LOG_LEVEL": "WARNING",
        }


async def create_topics(bootstrap: str, names: Iterable[str], partitions: int = 4) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names]
        )
    finally:
        await admin.close()


class WorkerProcess:
    """One ``rnnstream worker`` subprocess."""

    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        full = {
            **os.environ,
            **env,
            "RNNSTREAM_HTTP_PORT": str(self.port),
            "RNNSTREAM_HTTP_HOST": "127.0.0.1",
        }
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [str(RNNSTREAM), "worker"], env=full, stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT
        )
        self.started = time.monotonic()

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=3) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError as e:
            return 0, str(e)

    def wait_ready(self, timeout_s: float = 60.0) -> float:
        """Seconds from start until /readyz said 200."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self.get("/readyz")[0] == 200:
                return time.monotonic() - self.started
            time.sleep(0.2)
        raise AssertionError(
            f"worker not ready after {timeout_s} s:\n{self.get('/readyz')}\n{self.log_tail()}"
        )

    def log_tail(self, n: int = 40) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM, then wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


async def produce(bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes]]) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    await producer.start()
    n = 0
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*futures)
        n = len(futures)
    finally:
        await producer.stop()
    return n


async def collect(
    bootstrap: str, topic: str, *, until: int, timeout_s: float = 60.0, idle_s: float | None = None
) -> list[bytes]:
    """Read ``topic`` from the beginning until ``until`` records arrived (or the timeout / idle time)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    out: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    last = time.monotonic()
    try:
        while len(out) < until and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                out.extend(r.value for r in records if r.value is not None)
                last = time.monotonic()
            if idle_s is not None and out and time.monotonic() - last > idle_s:
                break
    finally:
        await consumer.stop()
    return out
