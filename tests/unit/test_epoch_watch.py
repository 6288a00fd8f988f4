"""EpochWatch on the memory store: a lost epoch is counted once, logged, shown; a failing store changes nothing."""

from __future__ import annotations

import asyncio
import logging

import pytest
from prometheus_client import CollectorRegistry

from rnnstream.errors import StateError
from rnnstream.state.memory import MemoryStateStore
from rnnstream.state.store import StateEpoch
from rnnstream.worker.epoch import EpochCheck, EpochWatch
from rnnstream.worker.metrics import WorkerMetrics


class FlakyStore(MemoryStateStore):
    """A memory store whose epoch() fails while ``down`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    async def epoch(self) -> StateEpoch:
        if self.down:
            raise StateError("redis is down")
        return await super().epoch()


def changes(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("rnnstream_state_epoch_changes_total")


def shown(registry: CollectorRegistry) -> dict[str, float]:
    """The epoch series: {epoch id: creation time}."""
    return {
        sample.labels["epoch"]: sample.value
        for family in registry.collect()
        if family.name == "rnnstream_state_epoch_timestamp_seconds"
        for sample in family.samples
    }


def make() -> tuple[FlakyStore, EpochWatch, CollectorRegistry]:
    store, registry = FlakyStore(), CollectorRegistry()
    return store, EpochWatch(store, WorkerMetrics(registry)), registry


async def test_first_read_sets_the_baseline_without_counting() -> None:
    store, watch, registry = make()
    assert shown(registry) == {}
    assert await watch.check() is EpochCheck.FIRST
    epoch = await store.epoch()
    assert watch.current == epoch
    assert changes(registry) == 0
    assert shown(registry) == {epoch.id: epoch.created_at_ms / 1000}
    assert await watch.check() is EpochCheck.SAME
    assert changes(registry) == 0


async def test_lost_data_is_counted_once_logged_and_shown(caplog: pytest.LogCaptureFixture) -> None:
    store, watch, registry = make()
    await watch.check()
    before = watch.current
    store.clear()
    with caplog.at_level(logging.ERROR, logger="rnnstream.worker.epoch"):
        assert await watch.check() is EpochCheck.CHANGED
    after = await store.epoch()
    assert after != before and watch.current == after
    assert changes(registry) == 1
    assert shown(registry) == {after.id: after.created_at_ms / 1000}  # the old epoch's series is gone
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert before is not None and before.id in error.getMessage() and after.id in error.getMessage()
    assert await watch.check() is EpochCheck.SAME  # adopted: counted once, not on every check
    store.clear()
    assert await watch.check() is EpochCheck.CHANGED
    assert changes(registry) == 2


async def test_a_failing_store_changes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    store, watch, registry = make()
    await watch.check()
    known = watch.current
    store.down = True
    with caplog.at_level(logging.WARNING, logger="rnnstream.worker.epoch"):
        assert await watch.check() is EpochCheck.UNAVAILABLE
        assert await watch.check() is EpochCheck.UNAVAILABLE
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1  # once per outage
    assert watch.current == known and changes(registry) == 0
    store.down = False
    assert await watch.check() is EpochCheck.SAME  # back with its data: no loss
    store.down = True
    await watch.check()
    store.clear()  # came back empty
    store.down = False
    assert await watch.check() is EpochCheck.CHANGED
    assert changes(registry) == 1


async def test_a_store_down_at_start_gives_no_baseline_until_it_answers() -> None:
    store, watch, registry = make()
    store.down = True
    assert await watch.check() is EpochCheck.UNAVAILABLE
    assert watch.current is None and shown(registry) == {}
    store.down = False
    assert await watch.check() is EpochCheck.FIRST
    assert changes(registry) == 0


async def test_run_checks_until_cancelled() -> None:
    store, watch, registry = make()
    task = asyncio.create_task(watch.run(0.01))
    for _ in range(500):  # a guard against hanging, not a speed check
        await asyncio.sleep(0.01)
        if watch.current is not None:
            break
    first = watch.current
    assert first is not None
    store.clear()
    for _ in range(500):
        await asyncio.sleep(0.01)
        if changes(registry) == 1:
            break
    assert changes(registry) == 1 and watch.current != first
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(ValueError):
        await watch.run(0)
