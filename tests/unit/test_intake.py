"""The batched intake without a broker: how records are batched, which ones are dropped as stale, what is
tracked and acknowledged, and how the worker's fetch loop (``drain_in_batches``) splits a fetch between the
intake and faust's per-record callback."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP, ConsumerMessage

from rnnstream.worker.intake import BatchIntake, raw_events
from rnnstream.worker.transport import drain_in_batches

INPUT = "rnnstream.input"


def message(offset: int, *, partition: int = 0, topic: str = INPUT, generation: int = 1) -> ConsumerMessage:
    tp = TP(topic, partition)
    return ConsumerMessage(
        topic, partition, offset, 0.0, 0, [], b"s%d" % partition, b"v%d" % offset, None, 2, 2, tp,
        generation_id=generation,
    )  # fmt: skip


class FakeConsumer:
    def __init__(self) -> None:
        self.tracked: list[ConsumerMessage] = []
        self.acked: list[ConsumerMessage] = []

    def track_message(self, m: ConsumerMessage) -> None:
        self.tracked.append(m)

    def ack(self, m: ConsumerMessage) -> bool:
        self.acked.append(m)
        return True


class FakeApp:
    def __init__(self) -> None:
        self.consumer = FakeConsumer()
        self.consumer_generation_id = 1
        self.active = True
        self.flow_control = SimpleNamespace(is_active=lambda: self.active)
        self.monitor = SimpleNamespace(stream_inbound_time={})


def offsets(batch: list[ConsumerMessage]) -> list[int]:
    return [m.offset for m in batch]


async def test_take_merges_fetches_up_to_max_events_and_carries_the_rest() -> None:
    app = FakeApp()
    intake = BatchIntake(app, INPUT, max_events=4, max_fetches=3)
    await intake.put([message(0), message(1), message(2)])
    await intake.put([message(3), message(4)])
    await intake.put([message(5)])
    assert offsets(await intake.take()) == [0, 1, 2, 3]
    assert offsets(await intake.take()) == [4, 5]
    assert offsets(app.consumer.tracked) == [0, 1, 2, 3, 4, 5]
    later = asyncio.ensure_future(intake.take())
    await asyncio.sleep(0)
    assert not later.done()  # nothing fetched: take waits
    await intake.put([message(6)])
    assert offsets(await later) == [6]


async def test_taken_records_are_tracked_and_acknowledged_on_request() -> None:
    app = FakeApp()
    intake = BatchIntake(app, INPUT, max_events=8)
    fetched = [message(0), message(1, partition=3)]
    await intake.put(fetched)
    batch = await intake.take()
    assert app.consumer.tracked == fetched and all(m.tracked for m in batch)
    assert set(app.monitor.stream_inbound_time) == {TP(INPUT, 0), TP(INPUT, 3)}
    assert app.consumer.acked == []
    intake.ack(batch)
    assert app.consumer.acked == fetched


async def test_records_of_an_older_generation_or_during_a_rebalance_are_dropped_untracked() -> None:
    app = FakeApp()
    intake = BatchIntake(app, INPUT, max_events=8)
    await intake.put([message(0, generation=1), message(1, generation=2)])
    app.consumer_generation_id = 2
    assert offsets(await intake.take()) == [1]
    assert offsets(app.consumer.tracked) == [1]

    app.active = False
    await intake.put([message(2, generation=2)])
    waiting = asyncio.ensure_future(intake.take())
    await asyncio.sleep(0)
    assert not waiting.done()  # the stale batch was dropped; take waits for a fresh one
    app.active = True
    await intake.put([message(3, generation=2)])
    assert offsets(await waiting) == [3]
    assert offsets(app.consumer.tracked) == [1, 3]


async def test_clear_drops_what_waits_untaken() -> None:
    app = FakeApp()
    intake = BatchIntake(app, INPUT, max_events=1)
    await intake.put([message(0), message(1)])
    assert offsets(await intake.take()) == [0]  # 1 waits in the carry
    await intake.put([message(2)])
    intake.clear()
    await intake.put([message(3)])
    assert offsets(await intake.take()) == [3]


def test_raw_events_keep_value_key_and_position() -> None:
    (event,) = raw_events([message(7, partition=2)])
    assert (event.value, event.key, event.topic, event.partition, event.offset) == (b"v7", b"s2", INPUT, 2, 7)


class FakeFetchingConsumer:
    """What ``drain_in_batches`` reads of faust's consumer, with a scripted list of fetches."""

    consumer_stopped_errors: tuple[type[BaseException], ...] = ()

    def __init__(self, fetches: list[list[ConsumerMessage]]) -> None:
        self._fetches = list(fetches)
        self._stopped = asyncio.Event()
        self._read_offset: defaultdict[TP, int | None] = defaultdict(lambda: None)
        self._commit_every = None
        self._n_acked = 0
        self.gaps: list[tuple[TP, int, int]] = []
        self.delivered: list[ConsumerMessage] = []
        self.app = SimpleNamespace(topics=SimpleNamespace(acks_enabled_for=lambda topic: True))
        self.transport = SimpleNamespace(app=SimpleNamespace(should_stop=False))
        self.diag = SimpleNamespace(set_flag=lambda flag: None, unset_flag=lambda flag: None)
        self.suspend_flow = asyncio.Event()
        self.log = SimpleNamespace(info=print, exception=print)

    @property
    def should_stop(self) -> bool:
        return self._stopped.is_set()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, ConsumerMessage]]:
        if not self._fetches:
            self._stopped.set()
            return
        for m in self._fetches.pop(0):
            yield m.tp, m

    async def callback(self, m: ConsumerMessage) -> None:
        self.delivered.append(m)

    async def _add_gap(self, tp: TP, start: int, end: int) -> None:
        self.gaps.append((tp, start, end))

    async def commit(self) -> None:
        pass

    async def wait_first(self, *coros: Any) -> None:
        first, *others = coros  # the first always wins here: the others (suspend_flow) never fire
        try:
            await first
        finally:
            for other in others:
                other.close()


async def test_the_fetch_loop_hands_each_fetch_of_the_input_topic_over_at_once() -> None:
    app = FakeApp()
    intake = BatchIntake(app, INPUT, max_events=100, max_fetches=10)
    leader = message(0, topic="faust-leader")
    consumer = FakeFetchingConsumer(
        [
            [message(0), leader, message(1), message(0, partition=1)],
            [message(0), message(5)],  # offset 0 again: already read; 5 leaves a gap 2-4
        ]
    )
    await drain_in_batches(consumer, SimpleNamespace(_stopped=asyncio.Event()), intake)
    assert consumer.delivered == [leader]  # other topics: faust's own callback
    assert offsets(await intake.take()) == [0, 1, 0, 5]  # one batch (partition 0, 0, 1, then 0)
    assert consumer.gaps == [(TP(INPUT, 0), 2, 5)]
    assert consumer._read_offset[TP(INPUT, 0)] == 5


@pytest.mark.parametrize("stopping", [True, False])
async def test_a_cancelled_fetch_loop_returns_only_while_the_app_stops(stopping: bool) -> None:
    app = FakeApp()
    intake = BatchIntake(app, INPUT, max_events=1, max_fetches=1)
    consumer = FakeFetchingConsumer([[message(0)], [message(1)]])
    consumer.transport.app.should_stop = stopping
    task = asyncio.ensure_future(
        drain_in_batches(consumer, SimpleNamespace(_stopped=asyncio.Event()), intake)
    )
    await asyncio.sleep(0.01)  # the second fetch waits: the intake holds one fetch
    task.cancel()
    if stopping:
        await task
    else:
        with pytest.raises(asyncio.CancelledError):
            await task
