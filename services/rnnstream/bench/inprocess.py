"""The in-process pipelines' plumbing and the aiokafka pipeline.

:class:`InProcessPipeline` holds what both in-process pipelines share: a consumer of the pipeline's input
topic in its own consumer group (offsets committed by hand after each batch), a producer (``acks=all``), the
loop task and the CPU and memory probes. Their CPU is this process's CPU time, so it includes the bench's
prediction consumer (and, at real-time pace, the load generator); their memory is this process's RSS.

:class:`AiokafkaPipeline` drives the real :class:`~rnnstream.worker.processor.BatchProcessor` through the
pipelined :class:`~rnnstream.worker.batch_runner.BatchRunner` (Redis store, state cache, batch publisher,
the step on the loop's thread: the worker's defaults) with batches of ``getmany(max_records=256,
timeout_ms=5)``: the worker's step code without faust, the transport ceiling.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from functools import partial

import psutil
from aiokafka import AIOKafkaProducer, TopicPartition
from prometheus_client import CollectorRegistry

from rnnstream.bench.load import make_producer
from rnnstream.bench.pipelines import (
    BATCH_MAX_RECORDS,
    BATCH_TIMEOUT_MS,
    STATE_TTL_S,
    BatchStats,
    PipelineNames,
    make_group_consumer,
    mean_of,
)
from rnnstream.errors import ServiceError
from rnnstream.state.redis_store import RedisStateStore
from rnnstream.worker.batch_runner import BatchRunner, Health
from rnnstream.worker.loaded_models import LoadedModels
from rnnstream.worker.metrics import WorkerMetrics
from rnnstream.worker.processor import INLINE, BatchProcessor, ProcessorConfig, RawEvent
from rnnstream.worker.publisher import BatchPublisher
from rnnstream.worker.state_cache import StateCache


class InProcessPipeline:
    """Shared plumbing of the in-process pipelines: consumer, producer, loop task, CPU and RSS of this
    process."""

    name = "in-process"

    def __init__(self, names: PipelineNames, *, bootstrap: str, redis_url: str) -> None:
        self.names = names
        self.bootstrap = bootstrap
        self.redis_url = redis_url
        self.consumer = make_group_consumer(bootstrap, names)
        self.producer: AIOKafkaProducer = make_producer(bootstrap, linger_ms=0)
        self._task: asyncio.Task[None] | None = None
        self._me = psutil.Process()
        self._started = False

    async def start(self) -> None:
        """Connect, join the group and start the loop."""
        self._started = True
        await self.producer.start()
        await self.consumer.start()
        self._task = asyncio.create_task(self._loop(), name=f"bench-{self.name}")

    async def _loop(self) -> None:
        raise NotImplementedError

    async def wait_ready(self, timeout_s: float) -> None:
        """Wait until the consumer group gave this consumer its partitions."""
        deadline = time.monotonic() + timeout_s
        while not self.consumer.assignment():
            if not self.alive():
                raise ServiceError(f"the {self.name} pipeline stopped during start-up")
            if time.monotonic() > deadline:
                raise ServiceError(f"the {self.name} consumer got no partitions within {timeout_s:.0f} s")
            await asyncio.sleep(0.1)

    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    def cpu_seconds(self) -> float:
        t = self._me.cpu_times()
        return float(t.user + t.system)

    def rss_bytes(self) -> list[int]:
        return [int(self._me.memory_info().rss)]

    async def close_resources(self) -> None:
        """Close what the subclass opened besides the consumer and the producer."""

    async def stop(self) -> None:
        """Stop the loop, then the clients; re-raises a failure of the loop."""
        failure: BaseException | None = None
        if self._task is not None:
            if self._task.done() and not self._task.cancelled():
                failure = self._task.exception()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._started:
            await self.consumer.stop()
            await self.producer.stop()
        await self.close_resources()
        if failure is not None:
            raise ServiceError(f"the {self.name} pipeline failed: {failure!r}") from failure


class AiokafkaPipeline(InProcessPipeline):
    """The worker's step code on a plain aiokafka consume → produce loop, configured as the worker is by
    default: the pipelined :class:`BatchRunner`, the write-through state cache, the batch publisher and the
    step on the loop's thread. Offsets are committed up to what is stored, after each batch."""

    name = "aiokafka"

    def __init__(self, names: PipelineNames, *, bootstrap: str, redis_url: str, models: LoadedModels) -> None:
        super().__init__(names, bootstrap=bootstrap, redis_url=redis_url)
        self.store = RedisStateStore.from_url(redis_url, prefix=names.redis_prefix)
        self.metrics = WorkerMetrics(CollectorRegistry())
        self.cache = StateCache(100_000, max_age_s=STATE_TTL_S / 2, metrics=self.metrics)
        self.processor = BatchProcessor(
            models,
            self.store,
            BatchPublisher(self.producer, names.predictions, names.dead_letters),
            self.metrics,
            ProcessorConfig(state_ttl_s=STATE_TTL_S),
            executor=INLINE,
            cache=self.cache,
        )
        self.runner = BatchRunner(self.processor, Health(), self.metrics)
        self._stored: dict[TopicPartition, int] = {}

    def _on_stored(self, batch: list[RawEvent]) -> None:
        for raw in batch:
            tp = TopicPartition(raw.topic, raw.partition)
            self._stored[tp] = max(self._stored.get(tp, 0), raw.offset + 1)

    async def _loop(self) -> None:
        committed: dict[TopicPartition, int] = {}
        while True:
            fetched = await self.consumer.getmany(timeout_ms=BATCH_TIMEOUT_MS, max_records=BATCH_MAX_RECORDS)
            batch = [
                RawEvent(r.value or b"", r.key, r.topic, r.partition, r.offset)
                for records in fetched.values()
                for r in records
            ]
            if batch:
                await self.runner.submit(batch, partial(self._on_stored, batch))
            if self._stored != committed:
                committed = dict(self._stored)
                await self.consumer.commit(committed)

    async def batch_stats(self) -> BatchStats:
        reg = self.metrics.prometheus_registry
        return BatchStats(
            mean_of(
                reg.get_sample_value("rnnstream_batch_events_sum"),
                reg.get_sample_value("rnnstream_batch_events_count"),
            ),
            mean_of(
                reg.get_sample_value("rnnstream_wave_rows_sum"),
                reg.get_sample_value("rnnstream_wave_rows_count"),
            ),
        )

    async def close_resources(self) -> None:
        await self.runner.drain()
        await self.store.close()
