"""Prometheus metrics of the worker, registered in a registry the caller passes in.

Nothing is created at import time: the composition root builds one :class:`WorkerMetrics` with its
registry (and clock), and tests build theirs with a fresh ``CollectorRegistry``. No metric is labelled with a
stream id: the number of series stays bounded by models, topics and partitions.

Every name below starts with ``rnnstream_``.

========================================  =========  =====================================================
series                                    type       meaning
========================================  =========  =====================================================
``events_total{model,outcome}``           counter    events by outcome: accepted, duplicate, rejected,
                                                     fenced (a state write refused by the fence)
``predictions_total{model,final}``        counter    predictions published; ``final`` is true/false
``dead_letters_total{reason}``            counter    events sent to the dead-letter topic
``batch_events``                          histogram  events per consumed batch
``wave_rows``                             histogram  rows per ONNX Runtime call
``batch_waves``                           histogram  waves (ONNX calls) per batch
``onnx_seconds{model}``                   histogram  time of one ONNX Runtime call
``redis_seconds{op}``                     histogram  time of one state round trip, op load or store
``latency_seconds{model}``                histogram  producer timestamp to prediction published
``active_streams{model}``                 gauge      streams with live state touched within the TTL
``model_info{model,version,task,cell}``   gauge      1 for each model served
``consumer_lag{topic,partition}``         gauge      high watermark minus committed offset
``errors_total{stage}``                   counter    failures by stage: step, state, publish
``worker_ready``                          gauge      1 once models are loaded and partitions assigned
``state_epoch_changes_total``             counter    times the state store's epoch changed under this
                                                     worker: the store lost its data
``state_epoch_timestamp_seconds{epoch}``  gauge      creation time of the epoch this worker last read,
                                                     labelled with its id; no series before the first read
========================================  =========  =====================================================
"""

from __future__ import annotations

import contextlib
import time
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

EventOutcome = Literal["accepted", "duplicate", "rejected", "fenced"]
RedisOp = Literal["load", "store"]
ErrorStage = Literal["step", "state", "publish"]

EVENT_OUTCOMES: tuple[EventOutcome, ...] = ("accepted", "duplicate", "rejected", "fenced")
REDIS_OPS: tuple[RedisOp, ...] = ("load", "store")
ERROR_STAGES: tuple[ErrorStage, ...] = ("step", "state", "publish")

METRIC_NAMES: tuple[str, ...] = (
    "rnnstream_events_total",
    "rnnstream_predictions_total",
    "rnnstream_dead_letters_total",
    "rnnstream_batch_events",
    "rnnstream_wave_rows",
    "rnnstream_batch_waves",
    "rnnstream_onnx_seconds",
    "rnnstream_redis_seconds",
    "rnnstream_latency_seconds",
    "rnnstream_active_streams",
    "rnnstream_model_info",
    "rnnstream_consumer_lag",
    "rnnstream_errors_total",
    "rnnstream_worker_ready",
    "rnnstream_state_epoch_changes_total",
    "rnnstream_state_epoch_timestamp_seconds",
    "rnnstream_state_cache_total",
    "rnnstream_state_cache_entries",
)
"""The names to query: counters with their ``_total``; histograms by their base name (the series are
``<name>_bucket``, ``<name>_sum`` and ``<name>_count``)."""

SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
WAVE_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64, 128)
CALL_SECONDS_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class WorkerMetrics:
    """Every metric of the worker, registered in ``registry``.

    The metric objects are public attributes for direct use; the methods cover the cases with a rule attached
    (allowed label values, the latency clock, removing a partition's lag). ``clock`` returns Unix time in
    seconds, the scale of producer timestamps.
    """

    def __init__(self, registry: CollectorRegistry, *, clock: Callable[[], float] = time.time) -> None:
        self.prometheus_registry = registry
        self._clock = clock
        self.events = Counter(
            "rnnstream_events",
            "Events consumed, by model and outcome (accepted, duplicate, rejected, fenced).",
            ("model", "outcome"),
            registry=registry,
        )
        self.predictions = Counter(
            "rnnstream_predictions",
            "Predictions published, by model; final is true for the prediction after a stream's end.",
            ("model", "final"),
            registry=registry,
        )
        self.dead_letters = Counter(
            "rnnstream_dead_letters",
            "Events sent to the dead-letter topic, by reason.",
            ("reason",),
            registry=registry,
        )
        self.batch_events = Histogram(
            "rnnstream_batch_events",
            "Events per consumed batch.",
            buckets=SIZE_BUCKETS,
            registry=registry,
        )
        self.wave_rows = Histogram(
            "rnnstream_wave_rows",
            "Rows (streams) per ONNX Runtime call.",
            buckets=SIZE_BUCKETS,
            registry=registry,
        )
        self.batch_waves = Histogram(
            "rnnstream_batch_waves",
            "Waves (ONNX Runtime calls) per consumed batch.",
            buckets=WAVE_BUCKETS,
            registry=registry,
        )
        self.onnx_seconds = Histogram(
            "rnnstream_onnx_seconds",
            "Seconds of one ONNX Runtime call, by model.",
            ("model",),
            buckets=CALL_SECONDS_BUCKETS,
            registry=registry,
        )
        self.redis_seconds = Histogram(
            "rnnstream_redis_seconds",
            "Seconds of one state-store round trip, by op (load, store).",
            ("op",),
            buckets=CALL_SECONDS_BUCKETS,
            registry=registry,
        )
        self.latency_seconds = Histogram(
            "rnnstream_latency_seconds",
            "Seconds from the producer's timestamp to the prediction being published, by model.",
            ("model",),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.active_streams = Gauge(
            "rnnstream_active_streams",
            "Streams with live state that this worker touched within the state TTL (approximate).",
            ("model",),
            registry=registry,
        )
        self.model_info = Gauge(
            "rnnstream_model_info",
            "1 for each model this worker serves.",
            ("model", "version", "task", "cell"),
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "rnnstream_consumer_lag",
            "Messages behind: partition high watermark minus the committed offset (or position).",
            ("topic", "partition"),
            registry=registry,
        )
        self.errors = Counter(
            "rnnstream_errors",
            "Failures by stage: step (a batch bisected), state (Redis), publish (Kafka).",
            ("stage",),
            registry=registry,
        )
        self.worker_ready = Gauge(
            "rnnstream_worker_ready",
            "1 when models are loaded and the consumer has partitions; 0 otherwise.",
            registry=registry,
        )
        self.state_epoch_changes = Counter(
            "rnnstream_state_epoch_changes",
            "Times the state store's epoch changed while this worker ran: the store lost its data.",
            registry=registry,
        )
        self.state_epoch_created = Gauge(
            "rnnstream_state_epoch_timestamp_seconds",
            "Unix time the state store's current epoch was created, labelled with the epoch id.",
            ("epoch",),
            registry=registry,
        )

        self.state_cache = Counter(
            "rnnstream_state_cache",
            "State lookups answered by the write-through cache (hit) or sent to Redis (miss).",
            ("result",),
            registry=registry,
        )
        self.state_cache_entries = Gauge(
            "rnnstream_state_cache_entries",
            "Stream records held in the write-through state cache.",
            registry=registry,
        )
        self._cache_hits = self.state_cache.labels(result="hit")
        self._cache_misses = self.state_cache.labels(result="miss")

    # --- Counters with a closed set of label values ------------------------------------------------
    def count_events(self, model: str, outcome: EventOutcome, n: int = 1) -> None:
        """Count ``n`` events of ``model`` with ``outcome``."""
        if outcome not in EVENT_OUTCOMES:
            raise ValueError(f"outcome {outcome!r} is not one of {EVENT_OUTCOMES}")
        self.events.labels(model=model, outcome=outcome).inc(n)

    def count_prediction(self, model: str, *, final: bool) -> None:
        """Count one prediction published for ``model``."""
        self.count_predictions(model, count=1, final=int(final))

    def count_predictions(self, model: str, *, count: int, final: int) -> None:
        """Count ``count`` predictions published for ``model`` at once, ``final`` of them final."""
        if count - final:
            self.predictions.labels(model=model, final="false").inc(count - final)
        if final:
            self.predictions.labels(model=model, final="true").inc(final)

    def count_state_cache(self, *, hits: int, misses: int) -> None:
        """Count one batch's state lookups answered by the cache (``hits``) and sent to Redis (``misses``)."""
        if hits:
            self._cache_hits.inc(hits)
        if misses:
            self._cache_misses.inc(misses)

    def count_dead_letter(self, reason: str) -> None:
        """Count one event sent to the dead-letter topic with ``reason`` (a short code, never free text)."""
        self.dead_letters.labels(reason=reason).inc()

    def count_error(self, stage: ErrorStage) -> None:
        """Count one failure at ``stage``."""
        if stage not in ERROR_STAGES:
            raise ValueError(f"stage {stage!r} is not one of {ERROR_STAGES}")
        self.errors.labels(stage=stage).inc()

    # --- Timings -----------------------------------------------------------------------------------
    def observe_redis(self, op: RedisOp, seconds: float) -> None:
        """Record one state-store round trip of ``op``."""
        if op not in REDIS_OPS:
            raise ValueError(f"op {op!r} is not one of {REDIS_OPS}")
        self.redis_seconds.labels(op=op).observe(seconds)

    def observe_latency(self, model: str, produced_at_s: float) -> float:
        """Record produce → published latency of one prediction, now by the clock; returns the seconds.

        A producer clock ahead of ours gives a negative difference; it is recorded as 0.
        """
        seconds = max(0.0, self._clock() - produced_at_s)
        self.latency_seconds.labels(model=model).observe(seconds)
        return seconds

    def observe_latencies(self, model: str, produced_at_ms: Sequence[int]) -> None:
        """:meth:`observe_latency` for a batch of predictions published now (producer times in ms)."""
        if not produced_at_ms:
            return
        now_ms = self._clock() * 1000.0
        observe_many(
            self.latency_seconds.labels(model=model),
            [max(0.0, now_ms - produced) / 1000.0 for produced in produced_at_ms],
        )

    # --- Gauges ------------------------------------------------------------------------------------
    def set_model_info(self, model: str, *, version: str, task: str, cell: str) -> None:
        """Publish the identity of one served model."""
        self.model_info.labels(model=model, version=version, task=task, cell=cell).set(1)

    def set_consumer_lag(self, topic: str, partition: int, *, highwater: int, committed: int) -> None:
        """Set one partition's lag; a negative difference (a stale high watermark) is shown as 0."""
        self.consumer_lag.labels(topic=topic, partition=str(partition)).set(max(0, highwater - committed))

    def clear_consumer_lag(self, topic: str, partition: int) -> None:
        """Drop a partition's lag series, e.g. when the partition is revoked from this worker."""
        with contextlib.suppress(KeyError):
            self.consumer_lag.remove(topic, str(partition))

    def set_ready(self, ready: bool) -> None:
        """Set ``rnnstream_worker_ready`` to 1 or 0."""
        self.worker_ready.set(1 if ready else 0)

    def set_state_epoch(self, epoch_id: str, created_at_s: float) -> None:
        """Show the epoch last read from the state store: one series, the previous epoch's removed."""
        self.state_epoch_created.clear()
        self.state_epoch_created.labels(epoch=epoch_id).set(created_at_s)

    def count_state_epoch_change(self) -> None:
        """Count one change of the state store's epoch (a state loss)."""
        self.state_epoch_changes.inc()


def observe_many(histogram: Histogram, values: Sequence[float]) -> None:
    """``histogram.observe(v)`` for every ``v`` in ``values`` (finite, no exemplars), counted per bucket first.

    prometheus-client has no call for many observations, and one ``observe`` walks the buckets in Python
    (about 3 µs, once per prediction on the worker's hot path); this finds each value's bucket by bisection
    and adds each bucket's count once. It reads the histogram's own bucket bounds and counters; where a
    release of the library lays them out otherwise it falls back to ``observe`` (a unit test holds the two
    paths equal)."""
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None or len(bounds) != len(buckets):
        for value in values:
            histogram.observe(value)
        return
    counts = [0] * len(bounds)
    for value in values:
        counts[bisect_left(bounds, value)] += 1  # the first bound >= value, as observe picks it
    for bucket, count in zip(buckets, counts, strict=True):
        if count:
            bucket.inc(count)
    total.inc(sum(values))


class ActiveStreams:
    """Approximate count of streams per model touched within ``ttl_s``, fed to ``rnnstream_active_streams``.

    Memory is one entry per live stream on this worker. After a rebalance a stream may be counted by two
    workers until the old one's entry expires, hence "approximate".
    """

    def __init__(
        self, metrics: WorkerMetrics, ttl_s: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self._metrics = metrics
        self._ttl_s = ttl_s
        self._clock = clock
        self._seen: dict[str, OrderedDict[str, float]] = {}

    def touch(self, model: str, stream_id: str) -> None:
        """Note that ``stream_id`` of ``model`` was written now."""
        seen = self._seen.setdefault(model, OrderedDict())
        seen[stream_id] = self._clock()
        seen.move_to_end(stream_id)

    def forget(self, model: str, stream_id: str) -> None:
        """Drop a stream that ended (its record is a tombstone now)."""
        self._seen.get(model, OrderedDict()).pop(stream_id, None)

    def refresh(self) -> None:
        """Expire streams idle for longer than the TTL and set the gauge for every model seen."""
        cutoff = self._clock() - self._ttl_s
        for model, seen in self._seen.items():
            while seen:
                oldest_id, touched = next(iter(seen.items()))
                if touched >= cutoff:
                    break
                del seen[oldest_id]
            self._metrics.active_streams.labels(model=model).set(len(seen))
