"""Runs each consumed batch to completion: outages are retried stage by stage, a batch that fails for any
other reason is bisected until the event(s) that fail alone are found and dead-lettered, and a stop during
an outage exits without committing.

The rule this enforces: an event either becomes a chunk that cannot fail later for reasons of its own
content, or it is dead-lettered alone, and the partition goes on. The codec's bounds make the first part
true by construction; this is the last line of defence for what they miss (a bug).

* **Outage** (the state store cannot be reached, or the broker does not acknowledge): the stage that failed
  is retried with backoff (0.1 s doubling to 5 s) until it succeeds; nothing before it is redone, so
  predictions the broker already acknowledged are not published again when only the store failed.
  ``/readyz`` reports ``processing: false`` meanwhile.
* **Anything else** in ``prepare`` (decode, admit, step, encode) or ``store_state`` (a record that cannot be
  encoded or a stored value that cannot be decoded): the batch is split in halves, each run on its own, in
  order (so per-stream order holds), down to single events; a single event that fails is tried once more
  (a transient failure that is no known outage must not cost it), and if it fails again it gets a
  ``processing_failed`` dead letter with the exception text.
* **Fenced behind**: when the fence refuses a stream's write because another worker (one that lost the
  partition but still finished a batch) stored an *older* seq than the one computed here, the stream's events
  of this batch run again from the stored state (its earlier chunks are then duplicates), so no chunk is left
  unapplied when the batch's offsets are committed. A refusal where the store is at or past the computed seq
  needs nothing.
* **Stopping** (SIGTERM, SIGINT): a stage in flight gets ``stop_grace_s`` to finish; a batch in an outage, or
  one that does not finish in time, makes the process exit with status 75 without committing, so the batch
  is redelivered to whichever worker takes the partition. A batch that finishes is committed as usual.

**Pipelining** (:meth:`BatchRunner.submit`, what the worker uses): batch N+1 is decoded, loaded and stepped
while batch N is published and stored. Batch N+1 starts from the records batch N computed (they are not
stored yet), so the state each stream's chunks see is the same as in the serial order. The effects stay
serial: N+1 is published only after N is stored, and ``on_stored`` (the offsets' acknowledgement) is called
for N before N+1's. When N does not finish cleanly (a fence refusal, a failure that was bisected), the
prepared N+1 is thrown away and N+1 runs again from the store, serially, before anything of it is
published. docs/architecture.md gives the ordering argument.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import NoReturn, TypeVar

from rnnstream.errors import StateCodecError, StateError
from rnnstream.worker.metrics import ErrorStage, WorkerMetrics
from rnnstream.worker.processor import BatchProcessor, PreparedBatch, RawEvent

log = logging.getLogger("rnnstream.worker")

#: The exit status of a worker stopped before its batch was stored (documented in docs/operations.md).
EXIT_NOT_COMMITTED = 75
#: How often a batch's streams run again when the fence keeps refusing writes behind the stored state.
MAX_FENCE_RERUNS = 8

_T = TypeVar("_T")


@dataclass
class Health:
    """What /readyz reports besides live pings."""

    partitions_assigned: bool = False
    processing_ok: bool = True
    last_error: str = ""
    stopping: asyncio.Event = field(default_factory=asyncio.Event)


def exit_without_commit() -> NoReturn:
    """Leave at once with :data:`EXIT_NOT_COMMITTED`: no offset of the batch in hand is committed."""
    log.error("stopped before the batch was stored: exiting without committing its offsets")
    logging.shutdown()
    os._exit(EXIT_NOT_COMMITTED)


def _state_outage(exc: BaseException) -> bool:
    return isinstance(exc, StateError) and not isinstance(exc, StateCodecError)


def _any(exc: BaseException) -> bool:
    return isinstance(exc, Exception)


def _behind(batch: Sequence[RawEvent], prepared: PreparedBatch) -> list[RawEvent]:
    """The events of ``batch`` (in order) whose streams' writes the fence refused behind the stored state."""
    log.warning(
        "the fence refused %d streams' writes behind them: running their events again", len(prepared.behind)
    )
    again = {id(raw) for key in prepared.behind for raw in prepared.events_of(key)}
    return [raw for raw in batch if id(raw) in again]


class BatchRunner:
    """Runs batches through a :class:`BatchProcessor` with the rules in the module docstring."""

    def __init__(
        self,
        processor: BatchProcessor,
        health: Health,
        metrics: WorkerMetrics,
        *,
        exit_now: Callable[[], NoReturn] = exit_without_commit,
        first_delay_s: float = 0.1,
        max_delay_s: float = 5.0,
        stop_grace_s: float = 5.0,
    ) -> None:
        self.processor = processor
        self.health = health
        self.metrics = metrics
        self.exit_now = exit_now
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self.stop_grace_s = stop_grace_s
        self._inflight: asyncio.Future[bool] | None = None
        self._inflight_batch: PreparedBatch | None = None

    async def run(self, batch: Sequence[RawEvent]) -> None:
        """Process ``batch`` until every event has a prediction or a dead letter and the state is stored."""
        try:
            await self._run(batch)
        except asyncio.CancelledError:
            self.exit_now()

    async def submit(self, batch: Sequence[RawEvent], on_stored: Callable[[], None]) -> None:
        """Pipelined :meth:`run`: prepare ``batch`` while the batch before is published and stored, then
        hand its publish and store to the background and return. ``on_stored`` is called once the batch is
        stored (or dead-lettered), in submission order: the caller acknowledges its offsets there.

        A failure of the background work is raised by the next :meth:`submit` or :meth:`drain`."""
        if self._inflight is not None and self._inflight.done():
            # the batch before is stored (or was refused) already: start from the cache and the store, whose
            # rules (revokes, a lost store's epoch) it would otherwise bypass
            await self.drain()
        before = self._inflight_batch
        prepared: PreparedBatch | None
        try:
            prepared = await self._until_done(
                "state", partial(self.processor.prepare, batch, after=before), _state_outage
            )
        except Exception:  # the batch's content hit a bug: run serially below, which bisects
            prepared = None
        clean = await self.drain()
        if prepared is None or not clean:
            # the batch before did not end as computed: prepare again from the store, one batch at a time
            await self._run(batch)
            on_stored()
            return
        self._inflight_batch = prepared
        self._inflight = asyncio.ensure_future(self._finish(batch, prepared, on_stored))

    async def run_after(self, batch: Sequence[RawEvent], on_stored: Callable[[], None]) -> None:
        """:meth:`run` once the batch in the background (if any) is stored, then ``on_stored``: one batch at
        a time, for a worker that keeps up (quicker than pipelining then; see ``pipeline_min_events`` in
        the settings). Callers may mix it with :meth:`submit`: the order of effects and acknowledgements
        is the submission order either way."""
        await self.drain()
        await self.run(batch)
        on_stored()

    async def drain(self) -> bool:
        """Wait until the batch in the background is stored; True when it ended as prepared (no fence
        refusal, no failure). Re-raises what the background work raised."""
        inflight, self._inflight = self._inflight, None
        self._inflight_batch = None
        if inflight is None:
            return True
        return await inflight

    async def _finish(
        self, batch: Sequence[RawEvent], prepared: PreparedBatch, on_stored: Callable[[], None]
    ) -> bool:
        try:
            await self._effects(prepared)
        except Exception as exc:
            await self._isolate(batch, exc)
            on_stored()
            return False
        except asyncio.CancelledError:
            self.exit_now()
        clean = not prepared.report.fenced
        if prepared.behind:
            await self._run(_behind(batch, prepared))
        on_stored()
        return clean

    async def _effects(self, prepared: PreparedBatch) -> None:
        """Publish, then store, each retried through its outages."""
        processor = self.processor
        await self._until_done("publish", partial(processor.publish, prepared), _any)
        await self._until_done("state", partial(processor.store_state, prepared), _state_outage)

    async def _run(self, batch: Sequence[RawEvent]) -> None:
        try:
            await self._run_once(batch)
        except Exception as exc:
            # When the store failed, this batch's predictions are out already; its halves publish theirs
            # again (identical, at least once), and the event that fails alone gets its dead letter.
            await self._isolate(batch, exc)

    async def _run_once(self, batch: Sequence[RawEvent]) -> None:
        """The three stages, outages retried; any other failure is raised. Streams whose write the fence
        refused while the store was behind (another worker stored an older seq first) run again from the
        stored state, so none of their chunks is left unapplied when the batch is committed."""
        for _ in range(MAX_FENCE_RERUNS + 1):
            prepared = await self._until_done("state", partial(self.processor.prepare, batch), _state_outage)
            await self._effects(prepared)
            if not prepared.behind:
                return
            batch = _behind(batch, prepared)
        raise StateError(f"{len(batch)} events still behind the stored state after {MAX_FENCE_RERUNS} reruns")

    async def _isolate(self, batch: Sequence[RawEvent], exc: Exception, *, again: bool = False) -> None:
        self.metrics.count_error("step")
        if len(batch) == 1 and not again:
            # one more try first: a transient failure that is no known outage must not cost the event
            await asyncio.sleep(self.first_delay_s)
            try:
                await self._run_once(batch)
            except Exception as second:
                await self._isolate(batch, second, again=True)
            return
        if len(batch) == 1:
            raw = batch[0]
            log.error(
                "event at %s[%d]@%d failed alone (%s: %s): dead-lettered as processing_failed",
                raw.topic,
                raw.partition,
                raw.offset,
                type(exc).__name__,
                exc,
            )
            letter: PreparedBatch = self.processor.failed_alone(raw, exc)
            await self._until_done("publish", partial(self.processor.publish, letter), _any)
            return
        log.warning(
            "a batch of %d events failed (%s: %s): running its halves apart",
            len(batch),
            type(exc).__name__,
            exc,
        )
        middle = len(batch) // 2
        await self._run(batch[:middle])
        await self._run(batch[middle:])

    async def _until_done(
        self, stage: ErrorStage, attempt: Callable[[], Awaitable[_T]], outage: Callable[[BaseException], bool]
    ) -> _T:
        """Run ``attempt`` until it succeeds, retrying outages; other errors are raised to the caller."""
        delay = self.first_delay_s
        while True:
            try:
                result = await self._unless_stopped(attempt())
            except Exception as exc:
                if not outage(exc):
                    raise
                self.metrics.count_error(stage)
                self.health.processing_ok, self.health.last_error = False, f"{type(exc).__name__}: {exc}"
                log.warning("%s failed (%s); retrying in %.1f s", stage, exc, delay)
            else:
                if not self.health.processing_ok:
                    log.info("%s succeeded again; processing resumed", stage)
                    self.health.processing_ok, self.health.last_error = True, ""
                return result
            try:  # returns at once when stopping is already set
                await asyncio.wait_for(self.health.stopping.wait(), timeout=delay)
            except TimeoutError:
                pass
            else:
                self.exit_now()
            delay = min(self.max_delay_s, delay * 2)

    async def _unless_stopped(self, work: Awaitable[_T]) -> _T:
        """Await ``work``; once stopping, give it ``stop_grace_s`` more, then exit without committing."""
        task = asyncio.ensure_future(work)
        stopping = asyncio.ensure_future(self.health.stopping.wait())
        try:
            await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=self.stop_grace_s)
            except TimeoutError:
                self.exit_now()
        return task.result()
