"""Make a loss of the state store's data visible: watch the store's epoch.

The store keeps one :class:`~rnnstream.state.store.StateEpoch` that lives exactly as long as its data (see
:mod:`rnnstream.state.store`). :class:`EpochWatch` reads it when the worker starts and again every
``RNNSTREAM_STATE_EPOCH_CHECK_S`` seconds. A different epoch means the store lost its data since the last
check (a Redis restarted without persistence, flushed, or failed over to a replica that never had the key):
every stream live at that moment restarts from zero state with ``gap=true``. The watch then counts
``rnnstream_state_epoch_changes_total``, logs an error, shows the new epoch in
``rnnstream_state_epoch_timestamp_seconds{epoch}``, adopts it and goes on: the worker keeps serving, since
nothing it could stop would bring the lost state back, and new streams are not affected.

A check that fails (Redis down) changes nothing: the epoch it knew stays, and the next check that gets an
answer compares with it. The check is one small round trip per interval, never one per batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum

from rnnstream.errors import StateError
from rnnstream.state.store import StateEpoch, StateStore
from rnnstream.worker.metrics import WorkerMetrics

log = logging.getLogger("rnnstream.worker.epoch")


class EpochCheck(Enum):
    """What one check found."""

    FIRST = "first"
    """The first epoch this worker read; nothing to compare with."""
    SAME = "same"
    """The epoch the worker knew."""
    CHANGED = "changed"
    """A different epoch: the store lost its data."""
    UNAVAILABLE = "unavailable"
    """The store did not answer; nothing known changed."""


class EpochWatch:
    """Reads the store's epoch on each :meth:`check` and reports when it changes."""

    def __init__(
        self, store: StateStore, metrics: WorkerMetrics, *, on_change: Callable[[], None] | None = None
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._on_change = on_change
        self._current: StateEpoch | None = None
        self._failing = False

    @property
    def current(self) -> StateEpoch | None:
        """The epoch last read, ``None`` before the first answer."""
        return self._current

    async def check(self) -> EpochCheck:
        """Read the epoch once and compare it with the one known; never raises a store failure."""
        try:
            epoch = await self._store.epoch()
        except StateError as exc:
            if not self._failing:
                log.warning("cannot read the state epoch (%s); will check again", exc)
            self._failing = True
            return EpochCheck.UNAVAILABLE
        if self._failing:
            log.info("the state epoch can be read again")
        self._failing = False
        previous, self._current = self._current, epoch
        self._metrics.set_state_epoch(epoch.id, epoch.created_at_ms / 1000)
        if previous is None:
            log.info("state epoch %s, created %s", epoch.id, _when(epoch))
            return EpochCheck.FIRST
        if epoch == previous:
            return EpochCheck.SAME
        self._metrics.count_state_epoch_change()
        if self._on_change is not None:
            self._on_change()  # the worker drops its state cache: it holds records of the lost data
        log.error(
            "STATE LOSS: the state store's epoch changed from %s (created %s) to %s (created %s). The store "
            "lost its data: streams live before it restart from zero state (gap=true). Check Redis "
            "persistence and failover (docs/operations.md). The worker goes on serving.",
            previous.id,
            _when(previous),
            epoch.id,
            _when(epoch),
        )
        return EpochCheck.CHANGED

    async def run(self, interval_s: float) -> None:
        """Check now and then every ``interval_s`` seconds, until cancelled."""
        if not interval_s > 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        while True:
            try:
                await self.check()
            except Exception:  # a bug here must not end the watch; the worker goes on either way
                log.exception("the state epoch check failed")
            await asyncio.sleep(interval_s)


def _when(epoch: StateEpoch) -> str:
    return datetime.fromtimestamp(epoch.created_at_ms / 1000, UTC).isoformat(timespec="milliseconds")
