"""The composition root: ``build_worker(settings)`` makes the faust app, the agent, the state store, the
state cache, the publisher, the metrics and the HTTP endpoints from typed settings. Nothing is created at
import time.

faust owns the consumer group, the partitions, the commits and the lifecycle. The agent takes batches from
the batched intake (``worker/intake.py``; with ``RNNSTREAM_BATCH_INTAKE=false`` from its stream with
``noack_take``) and acknowledges each batch's events itself once the batch is stored (the batch runner's
``on_stored``), so faust commits nothing of a batch before its state is stored, whichever way the agent
leaves. Predictions go out through the worker's own aiokafka producer in record batches
(:class:`~rnnstream.worker.publisher.BatchPublisher`), or faust's producer (``RNNSTREAM_PUBLISHER=faust``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import faust
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry

from rnnstream.gc_freeze import freeze_startup_objects
from rnnstream.state.redis_store import RedisClusterStateStore, RedisStateStore
from rnnstream.state.store import StateStore
from rnnstream.worker.batch_runner import BatchRunner, Health, exit_without_commit
from rnnstream.worker.epoch import EpochWatch
from rnnstream.worker.intake import BatchIntake, raw_events
from rnnstream.worker.kafka_client import KafkaConnection
from rnnstream.worker.loaded_models import LoadedModels
from rnnstream.worker.metrics import WorkerMetrics
from rnnstream.worker.processor import INLINE, BatchProcessor, ProcessorConfig, Publisher, RawEvent
from rnnstream.worker.publisher import BatchPublisher, TopicPublisher
from rnnstream.worker.settings import WorkerSettings
from rnnstream.worker.state_cache import StateCache
from rnnstream.worker.transport import low_latency_transport

log = logging.getLogger("rnnstream.worker")


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


@dataclass
class Worker:
    """Everything one worker process runs."""

    settings: WorkerSettings
    app: faust.App
    models: LoadedModels
    store: StateStore
    processor: BatchProcessor
    executor: ThreadPoolExecutor
    runner: BatchRunner
    metrics: WorkerMetrics
    prometheus: CollectorRegistry
    health: Health
    epoch: EpochWatch
    cache: StateCache
    #: The worker's own publisher (``RNNSTREAM_PUBLISHER=batch``), started and stopped by the worker service.
    batch_publisher: BatchPublisher | None = None
    #: The batched intake (``RNNSTREAM_BATCH_INTAKE``); None: faust's per-event delivery.
    intake: BatchIntake | None = None


def build_worker(
    settings: WorkerSettings, *, models: LoadedModels | None = None, store: StateStore | None = None
) -> Worker:
    """Build a worker from settings; tests may pass their own models or store."""
    models = models or LoadedModels.load(
        settings.model_repository, settings.model_selectors, intra_op_threads=settings.onnx_intra_op_threads
    )
    store = store or make_store(settings)
    prometheus = CollectorRegistry()
    metrics = WorkerMetrics(prometheus)
    health = Health()
    app = faust.App(
        settings.app_id,
        broker=settings.broker_urls,
        broker_credentials=KafkaConnection.from_settings(settings).faust_credentials(),
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
    intake: BatchIntake | None = None
    if settings.batch_intake:
        intake = BatchIntake(app, settings.input_topic, max_events=settings.batch_max_events)
        # faust's rebalance clears it with the agents' buffers (anything with a clear() will do)
        app.flow_control.manage_queue(intake)  # type: ignore[arg-type]
    app.transport = low_latency_transport(app, settings.fetch_max_wait_ms, intake)
    batch_publisher: BatchPublisher | None = None
    publisher: Publisher
    if settings.publisher == "batch":
        batch_publisher = publisher = BatchPublisher(
            partial(
                AIOKafkaProducer,
                **KafkaConnection.from_settings(settings).aiokafka_kwargs(),
                client_id=f"{settings.app_id}-predictions",
                acks="all",
                enable_idempotence=False,  # not every Kafka-protocol broker grants producer ids (tansu does not)
                linger_ms=0,
                max_batch_size=1024 * 1024,  # a batch's predictions for one partition fit one record batch
            ),
            settings.prediction_topic,
            settings.dead_letter_topic,
        )
    else:
        publisher = TopicPublisher(
            lambda topic, key, value: app.producer.send(topic, key, value, None, None, None),
            settings.prediction_topic,
            settings.dead_letter_topic,
        )
    cache = StateCache(settings.state_cache_entries, max_age_s=settings.state_ttl_s / 2, metrics=metrics)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnx")
    processor = BatchProcessor(
        models,
        store,
        publisher,
        metrics,
        ProcessorConfig(
            gap_policy=settings.gap_policy,
            state_ttl_s=settings.state_ttl_s,
            max_event_bytes=settings.max_event_bytes,
            max_chunk_steps=settings.max_chunk_steps,
            max_pcm_ms=settings.max_pcm_ms,
            endpointing=settings.endpointing(),
        ),
        executor=executor if settings.step_in_thread else INLINE,
        cache=cache if cache.enabled else None,
    )
    runner = BatchRunner(processor, health, metrics)
    epoch = EpochWatch(store, metrics, on_change=cache.clear)
    worker = Worker(
        settings,
        app,
        models,
        store,
        processor,
        executor,
        runner,
        metrics,
        prometheus,
        health,
        epoch,
        cache,
        batch_publisher,
        intake,
    )
    _wire(worker)
    return worker


def _ack(events: Any) -> None:
    for event in events:
        event.ack()


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

    @app.task  # type: ignore[untyped-decorator]
    async def watch_state_epoch() -> None:  # at start, then every interval: a changed epoch is a state loss
        await w.epoch.run(s.state_epoch_check_s)

    pipeline_from = s.pipeline_min_events or s.batch_max_events

    async def handle(batch: list[RawEvent], ack: Callable[[], None]) -> None:
        if s.pipeline_batches and len(batch) >= pipeline_from:
            await w.runner.submit(batch, ack)  # behind: overlap this batch's step with the last one's effects
        else:
            await w.runner.run_after(batch, ack)

    @app.agent(source, name="rnnstream-step")
    async def step(stream: Any) -> None:
        # Nothing is acknowledged by faust itself: each batch's records are acknowledged (and so become
        # committable) by the callback the runner calls once the batch is stored. With the batched intake
        # the stream stays unread: the consumer hands the topic's records to the intake instead.
        try:
            if w.intake is not None:
                intake = w.intake
                while True:
                    messages = await intake.take()
                    await handle(raw_events(messages), partial(intake.ack, messages))
            async for events in stream.noack_take(s.batch_max_events, within=s.batch_timeout_ms / 1000):
                batch = [
                    RawEvent(e.value or b"", e.key, e.message.topic, e.message.partition, e.message.offset)
                    for e in events
                ]
                await handle(batch, partial(_ack, events))
        except asyncio.CancelledError:
            # stopping: the batch in the background (if any) gets its grace to be stored and acknowledged
            await w.runner.drain()
            raise
        except BaseException:
            # The runner handles every error it knows; for anything else leave without committing what is
            # not stored (nothing unacknowledged is committed, but faust would go on without this agent).
            log.exception("the batch runner failed unexpectedly")
            exit_without_commit()

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def _assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        if s.gc_freeze:
            freeze_startup_objects()
        w.health.partitions_assigned = True
        w.metrics.set_ready(True)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def _revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        # faust waited until every taken event was acknowledged, so no batch of ours is in flight; drain in
        # case, then forget the revoked partitions' streams (another worker may write them from now on)
        await w.runner.drain()
        dropped = w.cache.revoke((tp.topic, tp.partition) for tp in revoked)
        if dropped:
            log.info("revoked %d partitions: %d cached stream records dropped", len(revoked), dropped)
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
