"""A real worker on a Redis of the test's own: when that Redis loses its data (FLUSHALL), the worker counts one
epoch change, logs it, and goes on serving; the stream it was following continues with ``gap=true``."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from rnnstream import localservices
from rnnstream.events import decode_prediction
from tests.factories import event_record
from tests.integration.worker_process import Topics, WorkerProcess, collect, create_topics, produce

pytestmark = pytest.mark.services
MODEL = "sms-spam-lstm"
EPOCH_SERIES = re.compile(r'^rnnstream_state_epoch_timestamp_seconds\{epoch="([0-9a-f]{32})"\} ', re.M)


def chunk(stream: str, seq: int) -> tuple[bytes, bytes]:
    return event_record(stream, seq, model=MODEL, tokens=["free", "prize"])


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[str]:
    state = tmp_path / "redis"
    port = localservices.free_port()
    localservices.start_redis(state, port=port)
    try:
        yield localservices.redis_url(port=port)
    finally:
        localservices.stop_redis(state)


def scrape_until(w: WorkerProcess, pattern: str, timeout_s: float = 30.0) -> str:
    """/metrics once it matches ``pattern`` (a guard against hanging, not a speed check)."""
    deadline = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < deadline:
        text = w.get("/metrics")[1]
        if re.search(pattern, text, re.M):
            return text
        time.sleep(0.1)
    raise AssertionError(f"/metrics never matched {pattern!r}:\n{text[-2000:]}\n{w.log_tail()}")


def test_flushed_redis_is_counted_and_the_worker_keeps_serving(
    broker_bootstrap: str, own_redis: str, tmp_path: Path
) -> None:
    t = Topics()
    asyncio.run(create_topics(broker_bootstrap, [t.input, t.predictions, t.dead_letters], partitions=1))
    env = {**t.env(broker_bootstrap, own_redis), "RNNSTREAM_STATE_EPOCH_CHECK_S": "0.2"}
    w = WorkerProcess(env, tmp_path / "worker.log")
    try:
        w.wait_ready()
        text = scrape_until(w, EPOCH_SERIES.pattern)
        assert "rnnstream_state_epoch_changes_total 0.0" in text
        [before] = EPOCH_SERIES.findall(text)
        asyncio.run(produce(broker_bootstrap, t.input, [chunk("s", 0)]))
        assert len(asyncio.run(collect(broker_bootstrap, t.predictions, until=1))) == 1

        client = redis.Redis.from_url(own_redis)
        try:
            client.flushall()
        finally:
            client.close()
        text = scrape_until(w, r"^rnnstream_state_epoch_changes_total 1\.0$")
        [after] = EPOCH_SERIES.findall(text)
        assert after != before
        assert "STATE LOSS" in w.log_tail(200)

        asyncio.run(produce(broker_bootstrap, t.input, [chunk("s", 1)]))  # its state is gone
        preds = [decode_prediction(p) for p in asyncio.run(collect(broker_bootstrap, t.predictions, until=2))]
        assert [(p.seq, p.gap) for p in preds] == [(0, False), (1, True)]
        assert w.get("/readyz")[0] == 200  # still serving
        assert "rnnstream_state_epoch_changes_total 1.0" in w.get("/metrics")[1]  # counted once
    finally:
        code = w.stop()
    assert code == 0, w.log_tail()
