"""One consumed batch, end to end, in three stages with the effects in the right order.

1. :meth:`BatchProcessor.prepare`: decode every event (codec), check its key, admit it against its model
   (a bad event becomes a dead letter alone); load the state of every (model, version, stream) in the batch
   in one round trip; run the per-chunk rule and the waves, one ONNX Runtime call per wave, in an executor
   (never on the loop); encode every prediction, dead letter and new record. Everything that can fail for
   reasons of an event's content fails here, before any effect.
2. :meth:`BatchProcessor.publish`: send the predictions and dead letters and wait until the broker has them.
3. :meth:`BatchProcessor.store_state`: store the new states in one fenced round trip. A refused write (another
   worker got there first, or this batch was already applied) changes nothing and is counted as ``fenced``.

Only then does the caller let the consumer commit the batch's offsets. A crash anywhere before that makes
the broker redeliver the batch; the state is still the old one, so the same predictions are computed and
published again (at-least-once, deduplicable by ``(stream_id, seq)``) and the state advances exactly once.
The stages are separate so that a caller retrying after an outage retries only the stage that failed
(:mod:`rnnstream.worker.batch_runner`). This module knows neither faust nor Redis: the store and the
publisher are ports.
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
from rnnstream.core.step import AdmittedChunk, ChunkOutcome, StepResult, run_step
from rnnstream.errors import EventError
from rnnstream.events.codec import (
    check_key,
    dead_letter_for,
    decode_event,
    encode_dead_letter,
    encode_prediction,
    event_key,
)
from rnnstream.events.models import (
    DEFAULT_MAX_CHUNK_STEPS,
    DEFAULT_MAX_EVENT_BYTES,
    DeadLetter,
    DeadLetterReason,
    PredictionEvent,
    SourcePosition,
)
from rnnstream.events.predictions import prediction_event
from rnnstream.runtime.session import OnnxModel
from rnnstream.state.codec import check_encodable
from rnnstream.state.store import StateStore
from rnnstream.worker.admission import admit
from rnnstream.worker.loaded_models import LoadedModels
from rnnstream.worker.metrics import ActiveStreams, WorkerMetrics

MAX_DEAD_LETTER_ORIGINAL = 64 * 1024


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
class BatchReport:
    predictions: list[PredictionEvent] = field(default_factory=list)
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


@dataclass
class PreparedBatch:
    """A batch after :meth:`BatchProcessor.prepare`: its outcome and every record, already encoded."""

    report: BatchReport
    prediction_records: list[tuple[bytes, bytes]]
    dead_letter_records: list[tuple[bytes | None, bytes]]
    writes: list[StateWrite]
    #: The batch's events of each stream whose state it computes, in batch order, by (model, version, stream).
    events: dict[tuple[str, str, str], list[RawEvent]] = field(default_factory=dict)
    #: After :meth:`BatchProcessor.store_state`: streams whose write the fence refused while the stored record
    #: is behind the one computed here (another worker stored an older seq first); their events must run
    #: again from the stored state, or the chunks after that seq would never be applied.
    behind: list[StateKey] = field(default_factory=list)

    def events_of(self, key: StateKey) -> list[RawEvent]:
        """The batch's events of the stream ``key`` names."""
        return self.events.get((key.model, key.version, key.stream_id), [])


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
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.models = models
        self.store = store
        self.publisher = publisher
        self.metrics = metrics
        self.config = config
        self.executor = executor
        self.clock_ms = clock_ms
        self.active = ActiveStreams(metrics, config.state_ttl_s)
        for m in models:
            metrics.set_model_info(m.name, version=m.version, task=m.manifest.task, cell=m.manifest.cell)

    async def process(self, batch: Sequence[RawEvent]) -> BatchReport:
        """All three stages in order. Raises ``StateError`` (nothing stored, offsets must not be committed)
        when the store fails, after publishing what was computed."""
        prepared = await self.prepare(batch)
        await self.publish(prepared)
        await self.store_state(prepared)
        return prepared.report

    async def prepare(self, batch: Sequence[RawEvent]) -> PreparedBatch:
        """Decode, admit, load, step and encode: everything but the effects. Raises ``StateError`` when the
        store cannot be read; any other exception means the batch's content hit a bug."""
        report = BatchReport()
        now = self.clock_ms()
        self.metrics.batch_events.observe(len(batch))
        groups: dict[tuple[str, str], tuple[OnnxModel, list[AdmittedChunk]]] = {}
        originals: dict[int, RawEvent] = {}
        events: dict[tuple[str, str, str], list[RawEvent]] = {}
        for raw in batch:
            try:
                event = decode_event(
                    raw.value, max_bytes=self.config.max_event_bytes, max_steps=self.config.max_chunk_steps
                )
                check_key(raw.key, event)
                model, chunk = admit(event, self.models)
            except EventError as exc:
                report.dead_letters.append(self._dead_letter(raw, exc, now))
                continue
            groups.setdefault((model.name, model.version), (model, []))[1].append(chunk)
            originals[id(chunk)] = raw
            events.setdefault((model.name, model.version, chunk.stream_id), []).append(raw)

        keys = [
            StateKey(n, v, s)
            for (n, v), (_, chunks) in groups.items()
            for s in dict.fromkeys(c.stream_id for c in chunks)
        ]
        records: dict[StateKey, StreamRecord | None] = {}
        if keys:
            started = time.perf_counter()
            records = dict(zip(keys, await self.store.load_many(keys), strict=True))
            self.metrics.observe_redis("load", time.perf_counter() - started)

        results = await asyncio.get_running_loop().run_in_executor(
            self.executor, self._run_models, groups, records, now
        )
        writes: list[StateWrite] = []
        for model, result in results:
            writes.extend(result.writes)
            report.waves += len(result.wave_rows)
            self.metrics.onnx_seconds.labels(model=model.name).observe(result.onnx_seconds)
            for rows in result.wave_rows:
                self.metrics.wave_rows.observe(rows)
            for outcome in result.outcomes:
                self._account(model, outcome, originals[id(outcome.chunk)], report, now)
        self.metrics.batch_waves.observe(report.waves)
        for write in writes:
            check_encodable(write.record)
        return PreparedBatch(
            report,
            [(event_key(p.stream_id), encode_prediction(p)) for p in report.predictions],
            self._dead_letter_records(report.dead_letters),
            writes,
            events,
        )

    async def publish(self, prepared: PreparedBatch) -> None:
        """Send the batch's predictions and dead letters; returns once the broker acknowledged them."""
        report = prepared.report
        if prepared.prediction_records:
            await self.publisher.send_predictions(prepared.prediction_records)
            for p in report.predictions:
                self.metrics.count_prediction(p.model, final=p.final)
                self.metrics.observe_latency(p.model, p.produced_at_ms / 1000.0)
        if prepared.dead_letter_records:
            await self.publisher.send_dead_letters(prepared.dead_letter_records)
            for d in report.dead_letters:
                self.metrics.count_dead_letter(d.reason.value)

    async def store_state(self, prepared: PreparedBatch) -> None:
        """Store the new states, fenced, in one round trip; raises ``StateError`` when the store fails.
        Fills ``prepared.behind`` with the streams whose events must run again."""
        writes, report = prepared.writes, prepared.report
        if writes:
            started = time.perf_counter()
            outcomes = await self.store.store_many(writes, ttl_s=self.config.state_ttl_s)
            self.metrics.observe_redis("store", time.perf_counter() - started)
            for w, res in zip(writes, outcomes, strict=True):
                if not res.applied:
                    report.fenced += 1
                    self.metrics.count_events(w.key.model, "fenced")
                    if res.stored_seq is None or res.stored_seq < w.record.seq:
                        prepared.behind.append(w.key)
                elif w.record.ended:
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
        now: int,
    ) -> list[tuple[OnnxModel, StepResult]]:
        out = []
        for (name, version), (model, chunks) in groups.items():
            mine = {c.stream_id: records[StateKey(name, version, c.stream_id)] for c in chunks}
            out.append((model, run_step(model, chunks, mine, policy=self.config.gap_policy, now_ms=now)))
        return out

    def _account(
        self, model: OnnxModel, o: ChunkOutcome, raw: RawEvent, report: BatchReport, now: int
    ) -> None:
        d = o.decision
        if d.accepted:
            assert o.scores is not None
            report.predictions.append(
                prediction_event(
                    stream_id=o.chunk.stream_id,
                    seq=o.chunk.seq,
                    model=model.name,
                    model_version=model.version,
                    labels=model.labels,
                    scores=o.scores,
                    steps_seen=o.steps_seen,
                    final=d.final,
                    gap=d.gap,
                    produced_at_ms=o.chunk.produced_at_ms,
                    predicted_at_ms=now,
                )
            )
            self.metrics.count_events(model.name, "accepted")
        elif d.outcome is Outcome.DUPLICATE:
            report.duplicates += 1
            self.metrics.count_events(model.name, "duplicate")
        else:
            assert d.reason is not None
            detail = (
                f"stream {o.chunk.stream_id!r} already ended at seq {d.expected_seq}"
                if d.reason == "after_end"
                else f"stream {o.chunk.stream_id!r}: expected seq {_next_seq(d.expected_seq)}, got {d.seq} (gap policy reject)"
            )
            report.dead_letters.append(self._dead_letter(raw, EventError(d.reason.value, detail), now))
            self.metrics.count_events(model.name, "rejected")

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
