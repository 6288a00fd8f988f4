"""Batched intake: the input topic's records go from faust's consumer to the agent one fetch at a time.

faust delivers each consumed record on its own: its fetch loop waits on four futures per record
(``Service.wait_first``), the conductor decodes it into an ``Event`` and puts it on the agent's channel, and
the agent's stream takes it off again (``noack_take``). Measured with ``scripts/bench_faust_driver.py``
that costs about 250-300 µs of CPU per event here, as much as the whole step without faust.

With the intake (``RNNSTREAM_BATCH_INTAKE``, the default) the worker's consumer (``worker/transport.py``)
hands every fetch's records of the input topic over as one list (:meth:`BatchIntake.put`, one wait per
fetch), and the agent takes them in batches of at most ``max_events`` (:meth:`BatchIntake.take`). faust
still owns the group, the assignment, the offsets and their commits, and the lifecycle; what the stream did
per record the intake does too:

* a record fetched under an older consumer generation, or while faust's flow control is off (a rebalance),
  is dropped, not processed: faust seeks the partition back to its committed offset and fetches it again;
* a record the agent takes is *tracked* (``Consumer.track_message``) before the agent works on it, so a
  rebalance or a stop waits for its acknowledgement, and it is acknowledged (``Consumer.ack``) once its
  batch is stored: only then can faust commit its offset;
* the monitor's per-partition inbound time is refreshed, which faust's stalled-stream check reads.

Records of other topics (faust's own) still take faust's per-record path.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from time import monotonic
from typing import Any

from rnnstream.worker.processor import RawEvent


class BatchIntake:
    """Fetched records of ``topic`` on their way from faust's consumer to the agent (bounded)."""

    def __init__(self, app: Any, topic: str, *, max_events: int, max_fetches: int = 2) -> None:
        self.app = app
        self.topic = topic
        self.max_events = max_events
        self._fetches: asyncio.Queue[list[Any]] = asyncio.Queue(maxsize=max_fetches)
        self._carry: deque[Any] = deque()

    async def put(self, messages: list[Any]) -> None:
        """Hand over one fetch's records (faust messages, in fetch order); waits while the agent is behind."""
        await self._fetches.put(messages)

    async def take(self) -> list[Any]:
        """The next batch: at most ``max_events`` records, as soon as there is at least one fresh one.

        Stale records (see the module docstring) are dropped here; the ones returned are tracked, so they must
        be acknowledged with :meth:`ack` once stored."""
        while True:
            if not self._carry:
                self._carry.extend(await self._fetches.get())
            while len(self._carry) < self.max_events and not self._fetches.empty():
                self._carry.extend(self._fetches.get_nowait())
            n = min(len(self._carry), self.max_events)
            batch = self._fresh([self._carry.popleft() for _ in range(n)])
            if batch:
                return batch

    def _fresh(self, messages: list[Any]) -> list[Any]:
        app = self.app
        generation = app.consumer_generation_id
        if not app.flow_control.is_active():
            return []
        consumer = app.consumer
        batch = [m for m in messages if m.generation_id == generation]
        inbound: dict[Any, float] = {}
        now = monotonic()
        for message in batch:
            message.tracked = True
            consumer.track_message(message)
            inbound[message.tp] = now
        monitor = app.monitor
        if monitor is not None:
            monitor.stream_inbound_time.update(inbound)
        return batch

    def ack(self, messages: Sequence[Any]) -> None:
        """Acknowledge a stored batch's records: faust may commit their offsets from now on."""
        ack = self.app.consumer.ack
        for message in messages:
            ack(message)

    def clear(self) -> None:
        """Drop what waits untaken (never tracked, so nothing waits for it); faust fetches it again."""
        self._carry.clear()
        while not self._fetches.empty():
            self._fetches.get_nowait()


def raw_events(messages: Sequence[Any]) -> list[RawEvent]:
    """The processor's view of faust messages."""
    return [RawEvent(m.value or b"", m.key, m.topic, m.partition, m.offset) for m in messages]
