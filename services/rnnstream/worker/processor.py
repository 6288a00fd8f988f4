"""One consumed batch, end to end, in three stages with the effects in the right order.

1. :meth:`BatchProcessor.prepare`: decode every event (codec), check its key, admit it against its model
   (a bad event becomes a dead letter alone); find the state of every (model, version, stream) in the batch:
   first among the records the batch before computed (``after``, when batches are pipelined), then in the
   write-through cache (:mod:`rnnstream.worker.state_cache`), the rest from the store in one round trip;
   run the per-chunk rule and the waves, one ONNX Runtime call per wave, in an executor or on the loop's
   thread (:data:`INLINE`, the worker's default: measured faster on 2 cores, docs/benchmarks.md);
   encode every prediction, dead letter and new record. Everything that can fail for reasons of an event's
   content fails here, before any effect.
2. :meth:`BatchProcessor.publish`: send the predictions and dead letters and wait until the broker has them.
3. :meth:`BatchProcessor.store_state`: store the new states in one fenced round trip. A refused write (another
   worker got there first, or this batch was already applied) changes nothing and is counted as ``fenced``.
   Applied writes enter the cache; a refused one drops the stream from it.

Only then does the caller let the consumer commit the batch's offsets. A crash anywhere before that makes
the broker redeliver the batch; the state is still the old one, so the same predictions are computed and
published again (at-least-once, deduplicable by ``(stream_id, seq)``) and the state advances exactly once.
The stages are separate so that a caller retrying after an outage retries only the stage that failed
(:mod:`rnnstream.worker.batch_runner`). This module knows neither faust nor Redis: the store and the
publisher are ports.

The hot path builds one :class:`StateKey` per stream (kept across batches, so the batch's maps, the cache
and the store find the very same key object again), encodes predictions directly
(:class:`~rnnstream.events.predictions.PredictionEncoder`), encodes each new record once (the store sends
those bytes) and updates the metrics once per batch, not per event.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Protocol

from rnnstream.core.chunk_rule import GapPolicy, Outcome
from rnnstream.core.records import StateKey, StateWrite, StreamRecord
from rnnstream.core.step import AdmittedChunk, ChunkOutcome, SegmentPrediction, StepResult, run_step
from rnnstream.errors import EventError
from rnnstream.events.codec import (
    check_key,
    dead_letter_for,
    decode_event,
    encode_dead_letter,
    event_key,
)
from rnnstream.events.models import (
    DEFAULT_MAX_CHUNK_STEPS,
    DEFAULT_MAX_EVENT_BYTES,
    DEFAULT_MAX_PCM_MS,
    DeadLetter,
    DeadLetterReason,
    SourcePosition,
)
from rnnstream.events.predictions import PredictionEncoder
from rnnstream.runtime.pcm import EndpointSettings, PcmFrontEnd
from rnnstream.runtime.session import OnnxModel
from rnnstream.state.codec import encode_record
from rnnstream.state.store import StateStore
from rnnstream.worker.admission import admit
from rnnstream.worker.loaded_models import LoadedModels
from rnnstream.worker.metrics import ActiveStreams, WorkerMetrics
from rnnstream.worker.state_cache import Generation, Partition, StateCache

MAX_DEAD_LETTER_ORIGINAL = 64 * 1024
#: Most state keys the processor keeps for reuse (about 150 bytes each beside strings the cache holds anyway);
#: past that the table starts over, which costs the next batches only the keys' construction.
STATE_KEYS_KEPT = 65_536


class _Inline:
    def __repr__(self) -> str:
        return "INLINE"


#: Pass as ``executor`` to run the step on the event loop's thread (ONNX Runtime releases the GIL while it
#: computes; the Python around it then needs no hand-over between threads).
INLINE: Executor = _Inline()  # type: ignore[assignment]


@dataclass(frozen=True)
class RawEvent:
    """A consumed record: its value and where it came from."""

    value: bytes
    key: bytes | None = None
    topic: str = ""
    partition: int = 0
    offset: int = 0


class Publisher(Protocol):
    """Sends records and returns once the broker acknowledged all of them."""

    async def send_predictions(self, records: Sequence[tuple[bytes, bytes]]) -> None: ...

    async def send_dead_letters(self, records: Sequence[tuple[bytes | None, bytes]]) -> None: ...


@dataclass
class PredictionStats:
    """One model's predictions in a batch, for the metrics: how many, how many final, their timestamps."""

    count: int = 0
    final: int = 0
    produced_at_ms: list[int] = field(default_factory=list)


@dataclass
class BatchReport:
    #: Predictions by model name.
    predictions: dict[str, PredictionStats] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    duplicates: int = 0
    fenced: int = 0
    waves: int = 0


@dataclass(frozen=True)
class ProcessorConfig:
    gap_policy: GapPolicy = GapPolicy.SKIP
    state_ttl_s: float = 3600.0
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    max_chunk_steps: int = DEFAULT_MAX_CHUNK_STEPS
    max_pcm_ms: int = DEFAULT_MAX_PCM_MS
    endpointing: EndpointSettings = field(default_factory=EndpointSettings)


@dataclass
class PreparedBatch:
    """A batch after :meth:`BatchProcessor.prepare`: its outcome and every record, already encoded."""

    report: BatchReport
    prediction_records: list[tuple[bytes, bytes]]
    dead_letter_records: list[tuple[bytes | None, bytes]]
    writes: list[StateWrite]
    #: The batch's events of each stream whose state it computes, in batch order.
    events: dict[StateKey, list[RawEvent]] = field(default_factory=dict)
    #: The partition each stream's events came from, and the cache generation of each partition at the start.
    partitions: dict[StateKey, Partition] = field(default_factory=dict)
    generations: dict[Partition, Generation] = field(default_factory=dict)
    #: After :meth:`BatchProcessor.store_state`: streams whose write the fence refused while the stored record
    #: is behind the one computed here (another worker stored an older seq first); their events must run
    #: again from the stored state, or the chunks after that seq would never be applied.
    behind: list[StateKey] = field(default_factory=list)

    def events_of(self, key: StateKey) -> list[RawEvent]:
        """The batch's events of the stream ``key`` names."""
        return self.events.get(key, [])

    @property
    def new_records(self) -> dict[StateKey, StreamRecord]:
        """The record each written stream will have once this batch is stored."""
        return {w.key: w.record for w in self.writes}


class BatchProcessor:
    """Turns a batch of raw input events into predictions, dead letters and state writes."""

    def __init__(
        self,
        models: LoadedModels,
        store: StateStore,
        publisher: Publisher,
        metrics: WorkerMetrics,
        config: ProcessorConfig,
        *,
        executor: Executor | None = None,
        cache: StateCache | None = None,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.models = models
        self.cache = cache
        self.store = store
        self.publisher = publisher
        self.metrics = metrics
        self.config = config
        self.executor = executor
        self.clock_ms = clock_ms
        self.active = ActiveStreams(metrics, config.state_ttl_s)
        self._encoders: dict[tuple[str, str], PredictionEncoder] = {}
        self._frontends: dict[tuple[str, str], PcmFrontEnd] = {}
        self._state_keys: dict[tuple[str, str, str], StateKey] = {}
        for m in models:
            if m.manifest.features is not None:
                self._frontends[m.name, m.version] = PcmFrontEnd(m.manifest.features, config.endpointing)
            metrics.set_model_info(m.name, version=m.version, task=m.manifest.task, cell=m.manifest.cell)
            self._encoders[m.name, m.version] = PredictionEncoder(
                model=m.name, model_version=m.version, labels=m.labels
            )

    async def process(self, batch: Sequence[RawEvent]) -> BatchReport:
        """All three stages in order. Raises ``StateError`` (nothing stored, offsets must not be committed)
        when the store fails, after publishing what was computed."""
        prepared = await self.prepare(batch)
        await self.publish(prepared)
        await self.store_state(prepared)
        return prepared.report

    async def prepare(
        self, batch: Sequence[RawEvent], *, after: PreparedBatch | None = None
    ) -> PreparedBatch:
        """Decode, admit, load, step and encode: everything but the effects. ``after`` is the batch before
        this one when it is not stored yet (pipelining): its new records are the state this batch starts
        from. Raises ``StateError`` when the store cannot be read; any other exception means the batch's
        content hit a bug."""
        report = BatchReport()
        now = self.clock_ms()
        self.metrics.batch_events.observe(len(batch))
        groups: dict[tuple[str, str], tuple[OnnxModel, list[AdmittedChunk]]] = {}
        originals: dict[int, RawEvent] = {}
        keys: dict[tuple[str, str, str], StateKey] = {}  # the batch's one key map
        events: dict[StateKey, list[RawEvent]] = {}
        partitions: dict[StateKey, Partition] = {}
        for raw in batch:
            try:
                event = decode_event(
                    raw.value,
                    max_bytes=self.config.max_event_bytes,
                    max_steps=self.config.max_chunk_steps,
                    max_pcm_ms=self.config.max_pcm_ms,
                )
                check_key(raw.key, event)
                model, chunk = admit(event, self.models)
            except EventError as exc:
                report.dead_letters.append(self._dead_letter(raw, exc, now))
                continue
            groups.setdefault((model.name, model.version), (model, []))[1].append(chunk)
            originals[id(chunk)] = raw
            name = (model.name, model.version, chunk.stream_id)
            key = keys.get(name)
            if key is None:
                key = keys[name] = self._state_key(name)
                events[key] = []
                partitions[key] = (raw.topic, raw.partition)
            events[key].append(raw)

        generations = self.cache.generations(set(partitions.values())) if self.cache is not None else {}
        records = await self._find_records(list(events), after, now)
        if self.executor is INLINE:
            results = self._run_models(groups, records, keys, now)
        else:
            results = await asyncio.get_running_loop().run_in_executor(
                self.executor, self._run_models, groups, records, keys, now
            )
        writes: list[StateWrite] = []
        predictions: list[tuple[bytes, bytes]] = []
        for model, result in results:
            writes.extend(result.writes)
            report.waves += len(result.wave_rows)
            self.metrics.onnx_seconds.labels(model=model.name).observe(result.onnx_seconds)
            for rows in result.wave_rows:
                self.metrics.wave_rows.observe(rows)
            self._account(model, result.outcomes, originals, report, predictions, now)
        self.metrics.batch_waves.observe(report.waves)
        # encoded once, here: a record that cannot be encoded fails before anything is published
        writes = [StateWrite(w.key, w.expected_seq, w.record, encode_record(w.record)) for w in writes]
        return PreparedBatch(
            report,
            predictions,
            self._dead_letter_records(report.dead_letters),
            writes,
            events,
            partitions,
            generations,
        )

    def _state_key(self, name: tuple[str, str, str]) -> StateKey:
        """The one :class:`StateKey` of ``(model, version, stream_id)``, made on first use."""
        kept = self._state_keys
        key = kept.get(name)
        if key is None:
            if len(kept) >= STATE_KEYS_KEPT:
                kept.clear()
            key = kept[name] = StateKey(*name)
        return key

    async def _find_records(
        self, keys: list[StateKey], after: PreparedBatch | None, now: int
    ) -> dict[StateKey, StreamRecord | None]:
        """Each key's record: from ``after``'s new records, the cache, or the store (one round trip)."""
        records: dict[StateKey, StreamRecord | None] = {}
        missing = keys
        if after is not None and after.writes:
            pending = after.new_records
            records.update((k, pending[k]) for k in keys if k in pending)
            missing = [k for k in keys if k not in records]
        if self.cache is not None and missing:
            records.update(self.cache.lookup(missing, now))
            missing = [k for k in missing if k not in records]
        if missing:
            started = time.perf_counter()
            records.update(zip(missing, await self.store.load_many(missing), strict=True))
            self.metrics.observe_redis("load", time.perf_counter() - started)
        return records

    async def publish(self, prepared: PreparedBatch) -> None:
        """Send the batch's predictions and dead letters; returns once the broker acknowledged them."""
        report = prepared.report
        if prepared.prediction_records:
            await self.publisher.send_predictions(prepared.prediction_records)
            for model, stats in report.predictions.items():
                self.metrics.count_predictions(model, count=stats.count, final=stats.final)
                self.metrics.observe_latencies(model, stats.produced_at_ms)
        if prepared.dead_letter_records:
            await self.publisher.send_dead_letters(prepared.dead_letter_records)
            for d in report.dead_letters:
                self.metrics.count_dead_letter(d.reason.value)

    async def store_state(self, prepared: PreparedBatch) -> None:
        """Store the new states, fenced, in one round trip; raises ``StateError`` when the store fails.
        Fills ``prepared.behind`` with the streams whose events must run again."""
        writes, report, cache = prepared.writes, prepared.report, self.cache
        if writes:
            started = time.perf_counter()
            outcomes = await self.store.store_many(writes, ttl_s=self.config.state_ttl_s)
            self.metrics.observe_redis("store", time.perf_counter() - started)
            for w, res in zip(writes, outcomes, strict=True):
                if not res.applied:
                    report.fenced += 1
                    self.metrics.count_events(w.key.model, "fenced")
                    if cache is not None:
                        cache.drop(w.key)
                    if res.stored_seq is None or res.stored_seq < w.record.seq:
                        prepared.behind.append(w.key)
                    continue
                if cache is not None:
                    partition = prepared.partitions.get(w.key)
                    if partition is not None:
                        cache.put(w.key, w.record, partition, prepared.generations[partition])
                if w.record.ended:
                    self.active.forget(w.key.model, w.key.stream_id)
                else:
                    self.active.touch(w.key.model, w.key.stream_id)
        self.refresh_gauges()

    def refresh_gauges(self) -> None:
        """Bring the gauges that age with time (active streams) up to date, e.g. before a scrape."""
        self.active.refresh()

    def failed_alone(self, raw: RawEvent, exc: BaseException) -> PreparedBatch:
        """The dead letter (``processing_failed``) for an event that passed every check but made its batch
        fail on its own; nothing else."""
        detail = f"processing this event failed: {type(exc).__name__}: {exc}"
        letter = self._dead_letter(
            raw, EventError(DeadLetterReason.PROCESSING_FAILED, detail), self.clock_ms()
        )
        report = BatchReport(dead_letters=[letter])
        return PreparedBatch(report, [], self._dead_letter_records(report.dead_letters), [])

    def _run_models(
        self,
        groups: dict[tuple[str, str], tuple[OnnxModel, list[AdmittedChunk]]],
        records: dict[StateKey, StreamRecord | None],
        keys: dict[tuple[str, str, str], StateKey],
        now: int,
    ) -> list[tuple[OnnxModel, StepResult]]:
        out = []
        policy = self.config.gap_policy
        for (name, version), (model, chunks) in groups.items():
            mine = {c.stream_id: keys[name, version, c.stream_id] for c in chunks}
            loaded = {stream: records[key] for stream, key in mine.items()}
            frontend = self._frontends.get((name, version))
            step = run_step(model, chunks, loaded, policy=policy, now_ms=now, keys=mine, frontend=frontend)
            out.append((model, step))
        return out

    def _account(
        self,
        model: OnnxModel,
        outcomes: Sequence[ChunkOutcome],
        originals: dict[int, RawEvent],
        report: BatchReport,
        predictions: list[tuple[bytes, bytes]],
        now: int,
    ) -> None:
        encoder = self._encoders[model.name, model.version]
        stats = report.predictions.setdefault(model.name, PredictionStats())
        accepted = duplicates = rejected = 0
        for o in outcomes:
            d, chunk = o.decision, o.chunk
            if d.accepted:
                # a frames or tokens chunk has one prediction; a PCM chunk zero or more (segments)
                if chunk.pcm is None:
                    assert o.scores is not None
                    items: Sequence[SegmentPrediction] = (SegmentPrediction(o.scores, d.final),)
                else:
                    items = o.predictions
                for p in items:
                    value = encoder.encode(
                        stream_id=chunk.stream_id,
                        seq=chunk.seq,
                        scores=p.scores,
                        steps_seen=o.steps_seen,
                        final=p.final,
                        gap=d.gap,
                        produced_at_ms=chunk.produced_at_ms,
                        predicted_at_ms=now,
                        utterance=p.utterance,
                    )
                    predictions.append((event_key(chunk.stream_id), value))
                    stats.count += 1
                    stats.final += p.final
                    stats.produced_at_ms.append(chunk.produced_at_ms)
                accepted += 1
            elif d.outcome is Outcome.DUPLICATE:
                duplicates += 1
            else:
                assert d.reason is not None
                detail = o.detail or (
                    f"stream {chunk.stream_id!r} already ended at seq {d.expected_seq}"
                    if d.reason == "after_end"
                    else f"stream {chunk.stream_id!r}: expected seq {_next_seq(d.expected_seq)}, got {d.seq} (gap policy reject)"
                )
                raw = originals[id(chunk)]
                report.dead_letters.append(self._dead_letter(raw, EventError(d.reason.value, detail), now))
                rejected += 1
        report.duplicates += duplicates
        for outcome, n in (("accepted", accepted), ("duplicate", duplicates), ("rejected", rejected)):
            if n:
                self.metrics.count_events(model.name, outcome, n)  # type: ignore[arg-type]

    def _dead_letter(self, raw: RawEvent, exc: EventError, now: int) -> DeadLetter:
        source = (
            SourcePosition(topic=raw.topic, partition=raw.partition, offset=raw.offset) if raw.topic else None
        )
        return dead_letter_for(
            raw.value, exc, at_ms=now, source=source, max_original_bytes=MAX_DEAD_LETTER_ORIGINAL
        )

    @staticmethod
    def _dead_letter_records(letters: Sequence[DeadLetter]) -> list[tuple[bytes | None, bytes]]:
        return [(event_key(d.stream_id) if d.stream_id else None, encode_dead_letter(d)) for d in letters]


def _next_seq(stored: int | None) -> int:
    """The seq a stream expects next: 0 without a stored record, else one past the stored one."""
    return 0 if stored is None else stored + 1
