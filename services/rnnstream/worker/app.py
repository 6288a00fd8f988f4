"""The composition root: ``build_worker(settings)`` makes the faust app, the agent, the state store, the
publisher, the metrics and the HTTP endpoints from typed settings. Nothing is created at import time."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import faust
from prometheus_client import CollectorRegistry

from rnnstream.errors import StateError
from rnnstream.state.redis_store import RedisClusterStateStore, RedisStateStore
from rnnstream.state.store import StateStore
from rnnstream.worker.metrics import WorkerMetrics
from rnnstream.worker.processor import BatchProcessor, ProcessorConfig, RawEvent
from rnnstream.worker.registry import ModelRegistry
from rnnstream.worker.settings import WorkerSettings
from rnnstream.worker.transport import low_latency_transport

log = logging.getLogger("rnnstream.worker")


@dataclass
class Health:
    """What /readyz reports besides live pings."""

    partitions_assigned: bool = False
    processing_ok: bool = True
    last_error: str = ""
    started_at: float = field(default_factory=time.time)


class FaustPublisher:
    """Publishes through the app's producer and waits for the broker's acknowledgements."""

    def __init__(self, app: faust.App, prediction_topic: str, dead_letter_topic: str) -> None:
        self.app = app
        self.prediction_topic = prediction_topic
        self.dead_letter_topic = dead_letter_topic

    async def _send(self, topic: str, records: Any) -> None:
        producer = self.app.producer
        futures = [await producer.send(topic, key, value, None, None, None) for key, value in records]
        await asyncio.gather(*futures)

    async def send_predictions(self, records: Any) -> None:
        await self._send(self.prediction_topic, records)

    async def send_dead_letters(self, records: Any) -> None:
        await self._send(self.dead_letter_topic, records)


def make_store(settings: WorkerSettings) -> StateStore:
    """The Redis state store the settings describe."""
    kwargs: dict[str, Any] = {}
    if settings.redis_password is not None:
        kwargs["password"] = settings.redis_password.get_secret_value()
    url = settings.redis_url
    if settings.redis_tls and url.startswith("redis://"):
        url = "rediss://" + url.removeprefix("redis://")
    cls = RedisClusterStateStore if settings.redis_cluster else RedisStateStore
    return cls.from_url(url, prefix=settings.redis_key_prefix, **kwargs)


def _credentials(settings: WorkerSettings) -> Any:
    proto = settings.kafka_security_protocol
    ssl_context = None
    if proto in ("SSL", "SASL_SSL"):
        import ssl

        cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        ssl_context = ssl.create_default_context(cafile=cafile)
    if proto.startswith("SASL"):
        password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=password,
            mechanism=settings.kafka_sasl_mechanism or "PLAIN",
            ssl_context=ssl_context,
        )
    if ssl_context is not None:
        return faust.SSLCredentials(ssl_context)
    return None


@dataclass
class Worker:
    """Everything one worker process runs."""

    settings: WorkerSettings
    app: faust.App
    registry: ModelRegistry
    store: StateStore
    processor: BatchProcessor
    metrics: WorkerMetrics
    prometheus: CollectorRegistry
    health: Health


def build_worker(
    settings: WorkerSettings, *, registry: ModelRegistry | None = None, store: StateStore | None = None
) -> Worker:
    """Build a worker from settings; tests may pass their own registry or store."""
    registry = registry or ModelRegistry.load(
        settings.model_repository, settings.model_selectors, intra_op_threads=settings.onnx_intra_op_threads
    )
    store = store or make_store(settings)
    prometheus = CollectorRegistry()
    metrics = WorkerMetrics(prometheus)
    health = Health()
    app = faust.App(
        settings.app_id,
        broker=settings.broker_urls,
        broker_credentials=_credentials(settings),
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_s,
        broker_commit_interval=0.5,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        topic_partitions=settings.topic_partitions,
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        autodiscover=False,
        store="memory://",
        table_cleanup_interval=3600.0,
    )
    app.transport = low_latency_transport(app, settings.fetch_max_wait_ms)
    publisher = FaustPublisher(app, settings.prediction_topic, settings.dead_letter_topic)
    processor = BatchProcessor(
        registry,
        store,
        publisher,
        metrics,
        ProcessorConfig(
            gap_policy=settings.gap_policy,
            state_ttl_s=settings.state_ttl_s,
            max_event_bytes=settings.max_event_bytes,
            max_chunk_steps=settings.max_chunk_steps,
        ),
        executor=ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnx"),
    )
    worker = Worker(settings, app, registry, store, processor, metrics, prometheus, health)
    _wire(worker)
    return worker


def _wire(w: Worker) -> None:
    s, app = w.settings, w.app
    source = app.topic(s.input_topic, partitions=s.topic_partitions)
    outputs = [
        app.topic(name, partitions=s.topic_partitions) for name in (s.prediction_topic, s.dead_letter_topic)
    ]

    @app.task  # type: ignore[untyped-decorator]
    async def declare_outputs() -> None:
        for topic in outputs:
            await topic.maybe_declare()

    @app.agent(source, name="rnnstream-step")
    async def step(stream: Any) -> None:
        async for events in stream.take_events(s.batch_max_events, within=s.batch_timeout_ms / 1000):
            batch = [
                RawEvent(e.value or b"", e.key, e.message.topic, e.message.partition, e.message.offset)
                for e in events
            ]
            await _process_until_stored(w, batch)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def _assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        w.health.partitions_assigned = True
        w.metrics.set_ready(True)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def _revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        for tp in revoked:
            w.metrics.clear_consumer_lag(tp.topic, tp.partition)

    @app.timer(5.0)  # type: ignore[untyped-decorator]
    async def report_lag() -> None:
        consumer = app.consumer
        for tp in consumer.assignment():
            position = await consumer.position(tp)
            highwater = consumer.highwater(tp)
            if position is not None and highwater is not None:
                w.metrics.set_consumer_lag(tp.topic, tp.partition, highwater=highwater, committed=position)


async def _process_until_stored(w: Worker, batch: list[RawEvent]) -> None:
    """Process a batch; on a state-store failure retry it (same input, same outputs) until it is stored.

    faust acks (and later commits) a batch once this returns, so it returns only after the state is stored.
    Stopped in the middle of an outage, the process exits without committing: the batch is redelivered.
    """
    delay = 0.1
    while True:
        try:
            await w.processor.process(batch)
            if not w.health.processing_ok:
                log.info("state store is back; processing resumed")
            w.health.processing_ok, w.health.last_error = True, ""
            return
        except StateError as exc:
            w.metrics.count_error("state")
            w.health.processing_ok, w.health.last_error = False, str(exc)
            log.warning("state store failed (%s); retrying the batch in %.1f s", exc, delay)
        except asyncio.CancelledError:
            log.error("stopped before the batch was stored: exiting without committing its offsets")
            logging.shutdown()
            os._exit(75)
        except Exception as exc:  # never let a bug in one batch stop the worker, never commit it either
            w.metrics.count_error("step")
            w.health.processing_ok, w.health.last_error = False, f"{type(exc).__name__}: {exc}"
            log.exception("batch failed; retrying in %.1f s", delay)
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            log.error("stopped before the batch was stored: exiting without committing its offsets")
            logging.shutdown()
            os._exit(75)
        delay = min(5.0, delay * 2)
