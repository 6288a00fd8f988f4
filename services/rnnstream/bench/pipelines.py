"""What every pipeline under test offers, and the faust one.

* :class:`FaustPipeline`: ``K`` real ``rnnstream worker`` subprocesses, configured by ``RNNSTREAM_*``
  variables with this run's topics, consumer group and Redis key prefix; ready when every ``/readyz`` says
  200. Batch figures are scraped from each worker's ``/metrics``; CPU and memory are the workers' own.
* :class:`~rnnstream.bench.inprocess.AiokafkaPipeline`: the same step code on a plain aiokafka loop.
* :class:`~rnnstream.bench.quix.QuixPipeline`: the step as a Quix Streams app, in its own process.
* :class:`~rnnstream.bench.naive.NaivePipeline`: one event at a time.

Each pipeline of a run has its own :class:`PipelineNames`: topics, group and Redis key prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import psutil
from aiokafka import AIOKafkaConsumer

from rnnstream.localservices.worker import WorkerProcess

#: The pipeline that does no work between consume and publish (``bench/floor.py``).
FLOOR = "floor"
BATCH_MAX_RECORDS = 256
BATCH_TIMEOUT_MS = 5
STATE_TTL_S = 900
#: Every pipeline's topics are created with this, Kafka's own default retention stated explicitly: Quix reads
#: ``retention.ms`` from its input topic, and tansu reports only the settings a topic was created with.
TOPIC_CONFIG = {"retention.ms": str(7 * 24 * 3600 * 1000)}


@dataclass(frozen=True)
class PipelineNames:
    """Topics, consumer group and Redis key prefix of one pipeline in one run: nothing is shared."""

    tag: str
    pipeline: str

    @property
    def base(self) -> str:
        """Common stem of every name."""
        return f"rnnstream-bench-{self.tag}-{self.pipeline}"

    @property
    def input(self) -> str:
        return f"{self.base}.events"

    @property
    def predictions(self) -> str:
        return f"{self.base}.predictions"

    @property
    def dead_letters(self) -> str:
        return f"{self.base}.deadletter"

    @property
    def topics(self) -> list[str]:
        return [self.input, self.predictions, self.dead_letters]

    @property
    def group(self) -> str:
        return self.base

    @property
    def redis_prefix(self) -> str:
        return self.base


def make_group_consumer(bootstrap: str, names: PipelineNames) -> AIOKafkaConsumer:
    """A consumer of the pipeline's input topic in its own group, committing by hand."""
    return AIOKafkaConsumer(
        names.input,
        bootstrap_servers=bootstrap,
        group_id=names.group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
        session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
    )


@dataclass(frozen=True)
class BatchStats:
    """Mean events per consumed batch and mean rows per ONNX Runtime call (``None``: nothing measured)."""

    mean_batch_events: float | None
    mean_onnx_rows: float | None


class Pipeline(Protocol):
    """One way of running the step; ``start`` begins consuming the pipeline's input topic."""

    name: str

    async def start(self) -> None: ...

    async def wait_ready(self, timeout_s: float) -> None: ...

    def alive(self) -> bool: ...

    def cpu_seconds(self) -> float: ...

    def rss_bytes(self) -> list[int]: ...

    async def batch_stats(self) -> BatchStats: ...

    async def stop(self) -> None: ...


def mean_of(total: float | None, count: float | None) -> float | None:
    """``total / count``, or ``None`` when either is missing or the count is zero."""
    return total / count if total is not None and count else None


def process_cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds of the live processes among ``pids``."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
    return total


def process_rss_bytes(pids: Sequence[int]) -> list[int]:
    """Resident set size of each live process among ``pids``, in bytes."""
    sizes = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            sizes.append(int(psutil.Process(pid).memory_info().rss))
    return sizes


class FaustPipeline:
    """``workers`` real ``rnnstream worker`` processes sharing this pipeline's consumer group."""

    name = "faust"

    def __init__(
        self,
        names: PipelineNames,
        *,
        bootstrap: str,
        redis_url: str,
        repository: Path,
        model: str,
        partitions: int,
        workers: int,
        log_dir: Path,
    ) -> None:
        self.names = names
        self.env = {
            "RNNSTREAM_BROKER": f"kafka://{bootstrap}",
            "RNNSTREAM_REDIS_URL": redis_url,
            "RNNSTREAM_REDIS_KEY_PREFIX": names.redis_prefix,
            "RNNSTREAM_APP_ID": names.group,
            "RNNSTREAM_INPUT_TOPIC": names.input,
            "RNNSTREAM_PREDICTION_TOPIC": names.predictions,
            "RNNSTREAM_DEAD_LETTER_TOPIC": names.dead_letters,
            "RNNSTREAM_TOPIC_PARTITIONS": str(partitions),
            "RNNSTREAM_MODEL_REPOSITORY": str(repository.resolve()),
            "RNNSTREAM_MODELS": model,
            "RNNSTREAM_STATE_TTL_S": str(STATE_TTL_S),
            "RNNSTREAM_BATCH_MAX_EVENTS": str(BATCH_MAX_RECORDS),
            "RNNSTREAM_BATCH_TIMEOUT_MS": str(BATCH_TIMEOUT_MS),
        }
        self.workers = workers
        self.log_dir = log_dir
        self.procs: list[WorkerProcess] = []

    async def start(self) -> None:
        """Spawn the worker processes (they join the group within ~5 s and then consume)."""
        for i in range(self.workers):
            self.procs.append(WorkerProcess(self.env, self.log_dir / f"faust-worker-{i}.log"))

    async def wait_ready(self, timeout_s: float) -> None:
        """Wait until every worker's ``/readyz`` answers 200; ``ServiceError`` with the log tail if not."""
        for proc in self.procs:
            await asyncio.to_thread(proc.wait_ready, timeout_s)

    def alive(self) -> bool:
        return all(p.proc.poll() is None for p in self.procs)

    def cpu_seconds(self) -> float:
        return process_cpu_seconds([p.pid for p in self.procs])

    def rss_bytes(self) -> list[int]:
        return process_rss_bytes([p.pid for p in self.procs])

    async def batch_stats(self) -> BatchStats:
        """Sum the workers' ``rnnstream_batch_events`` and ``rnnstream_wave_rows`` histograms."""
        sums: dict[str, float] = {}
        for proc in self.procs:
            code, text = await asyncio.to_thread(proc.get, "/metrics")
            if code != 200:
                continue
            for line in text.splitlines():
                name, _, value = line.partition(" ")
                if name.startswith(("rnnstream_batch_events_", "rnnstream_wave_rows_")):
                    sums[name] = sums.get(name, 0.0) + float(value)
        return BatchStats(
            mean_of(sums.get("rnnstream_batch_events_sum"), sums.get("rnnstream_batch_events_count")),
            mean_of(sums.get("rnnstream_wave_rows_sum"), sums.get("rnnstream_wave_rows_count")),
        )

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(f"--- {p.log_path} ---\n{p.log_tail(lines)}" for p in self.procs)

    async def stop(self) -> None:
        """SIGTERM every worker and wait (then kill)."""
        for p in self.procs:
            if p.proc.poll() is None:
                p.proc.send_signal(signal.SIGTERM)
        for p in self.procs:
            await asyncio.to_thread(p.stop)
