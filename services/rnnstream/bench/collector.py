"""The bench's prediction consumer: reads one pipeline's prediction topic from the beginning and records, for
each ``(stream_id, seq)``, when its first prediction arrived; keeps each stream's final scores.

Latency of a prediction = the time this consumer received it − the event's ``produced_at_ms``. A repeated
``(stream_id, seq)`` (at-least-once redelivery) counts as a duplicate and is not timed again. The probe of
the pipeline (and of the local services it can see) is read at the first prediction and after every batch
that brought a new one, so CPU figures cover the same window as the throughput (the first and the last
reading), and the memory figure is the peak of the readings over that window.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer

from rnnstream.bench.load import now_ms
from rnnstream.errors import ServiceError


@dataclass(frozen=True)
class ProbeSample:
    """One reading of the probe: CPU seconds so far by name (``pipeline``, and each local service this run
    started: ``broker``, ``redis``) and the resident set size of each of the pipeline's processes, in bytes."""

    cpu_s: dict[str, float]
    rss_bytes: list[int]


@dataclass
class Collected:
    """What came back from one pipeline."""

    expected: int
    received: int = 0
    duplicates: int = 0
    first_ms: int | None = None
    first_count: int = 0
    last_ms: int | None = None
    latencies_ms: list[int] = field(default_factory=list)
    #: When each of ``latencies_ms`` arrived (ms, the same clock), for the latency's course over the run.
    arrived_ms: list[int] = field(default_factory=list)
    finals: dict[str, dict[str, float]] = field(default_factory=dict)
    final_labels: dict[str, str] = field(default_factory=dict)
    cpu_first_s: dict[str, float] | None = None
    cpu_last_s: dict[str, float] | None = None
    rss_peak_bytes: int | None = None
    rss_peak_process_bytes: int | None = None
    stop_reason: str = ""

    @property
    def complete(self) -> bool:
        """Every expected ``(stream_id, seq)`` got a prediction."""
        return self.received >= self.expected

    def note_rss(self, rss_bytes: list[int]) -> None:
        """Keep the peaks of one reading of the pipeline's processes: their sum and the largest one."""
        if rss_bytes:
            self.rss_peak_bytes = max(self.rss_peak_bytes or 0, sum(rss_bytes))
            self.rss_peak_process_bytes = max(self.rss_peak_process_bytes or 0, max(rss_bytes))


class PredictionCollector:
    """Consumes ``topic`` (no consumer group, every partition, from the earliest offset)."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        expected: int,
        *,
        probe: Callable[[], ProbeSample],
    ) -> None:
        self.topic = topic
        self.result = Collected(expected=expected)
        self._probe = probe
        self.on_new: Callable[[int], None] = lambda n: None
        self._started = False
        self._seen: set[tuple[str, int]] = set()
        self._consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=10,
        )

    async def start(self, timeout_s: float = 30.0) -> None:
        """Connect, subscribe (the topic must exist) and resolve the starting offsets, so the first
        prediction is read as soon as it is published."""
        await self._consumer.start()
        self._started = True
        deadline = time.monotonic() + timeout_s
        while not self._consumer.assignment():
            if time.monotonic() > deadline:
                raise ServiceError(f"no partitions of {self.topic} within {timeout_s:.0f} s")
            await asyncio.sleep(0.05)
        for tp in self._consumer.assignment():
            await self._consumer.position(tp)

    async def stop(self) -> None:
        """Disconnect (if connected)."""
        if self._started:
            await self._consumer.stop()

    async def run(
        self, *, timeout_s: float, stall_s: float, alive: Callable[[], bool] = lambda: True
    ) -> Collected:
        """Collect until every prediction arrived, or ``timeout_s`` passed, or none came for ``stall_s`` after
        the first, or ``alive()`` turned false (a worker died)."""
        r = self.result
        deadline = time.monotonic() + timeout_s
        last_new = time.monotonic()
        while not r.complete:
            now = time.monotonic()
            if now > deadline:
                r.stop_reason = f"timed out after {timeout_s:.0f} s"
                break
            if r.first_ms is not None and now - last_new > stall_s:
                r.stop_reason = f"no new prediction for {stall_s:.0f} s"
                break
            if not alive():
                r.stop_reason = "the pipeline stopped"
                break
            batches = await self._consumer.getmany(timeout_ms=50, max_records=2048)
            got = now_ms()
            new = 0
            for records in batches.values():
                for rec in records:
                    new += self._take(rec.value or b"{}", got)
            if new:
                if r.first_count == 0:
                    r.first_count = new
                last_new = time.monotonic()
                r.last_ms = got
                r.cpu_last_s = self._read_probe()
                self.on_new(new)
        return r

    def _read_probe(self) -> dict[str, float]:
        """Read the probe: keep the memory peaks, return the CPU seconds."""
        sample = self._probe()
        self.result.note_rss(sample.rss_bytes)
        return sample.cpu_s

    def _take(self, value: bytes, got_ms: int) -> int:
        p = orjson.loads(value)
        key = (str(p["stream_id"]), int(p["seq"]))
        r = self.result
        if key in self._seen:
            r.duplicates += 1
            return 0
        self._seen.add(key)
        if r.first_ms is None:
            r.first_ms = got_ms
            r.cpu_first_s = self._read_probe()
        r.received += 1
        r.latencies_ms.append(got_ms - int(p["produced_at_ms"]))
        r.arrived_ms.append(got_ms)
        if p["final"]:
            r.finals[key[0]] = {str(k): float(v) for k, v in p["scores"].items()}
            r.final_labels[key[0]] = str(p["label"])
        return 1
