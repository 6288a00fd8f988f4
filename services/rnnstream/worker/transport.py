"""A faust transport whose consumer waits at most ``fetch_max_wait_ms`` for new data, and whose record
reader survives headers the Kafka client cannot decode; with a :class:`~rnnstream.worker.intake.BatchIntake`
its fetch loop hands the input topic's records over a fetch at a time (:func:`drain_in_batches`).

faust 0.15 builds its aiokafka consumer with a fixed ``fetch_max_wait_ms=1500``; on a broker that answers a
waiting fetch only when the wait expires (tansu), that puts a floor of about a second under every prediction.
Measured here on tansu: 1,500 ms → p50 652 ms; 20 ms → p50 5.6 ms at a third of the idle CPU of 5 ms.
This overrides two private names (faust's ``_create_worker_consumer``, aiokafka's ``_fetch_max_wait_ms``);
faust-streaming and aiokafka are pinned below the next minor release. No test looks at the private value
itself (a faust app built only for that leaks its loop's resources into later tests); if the override stops
biting, the latency figures of ``rnnstream bench`` and the demo show it at once (about a second per chunk).

**Headers.** aiokafka decodes every record header key as strict UTF-8 while it iterates a fetched batch; one
header key that is not UTF-8 raises inside faust's fetcher, the worker dies, the offset is never committed
and every restart meets the same record. :class:`LenientMemoryRecords` replaces the fetcher's
``MemoryRecords`` (one more private name): batches are read by aiokafka's fast reader as before, and only a
batch that fails to decode is read again by aiokafka's pure-Python reader with header keys decoded
leniently (undecodable bytes become U+FFFD). rnnstream ignores headers, so such a record is then processed
like any other. ``tests/unit/test_transport.py`` builds such a batch byte by byte.

**The fetch loop.** :func:`drain_in_batches` is faust's ``Consumer._drain_messages`` (one more private name,
and the consumer attributes it reads) with one change: the records of the intake's topic in one fetch go to
the intake as one list, instead of one ``wait_first`` on four futures per record. ``tests/unit/test_intake.py``
runs it over a scripted consumer; every integration test runs it against the broker.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterator
from typing import Any, SupportsIndex, overload

from aiokafka.consumer import fetcher as aiokafka_fetcher
from aiokafka.record.default_records import _DefaultRecordBatchPy
from aiokafka.record.memory_records import MemoryRecords as _FastMemoryRecords
from faust.transport.consumer import CONSUMER_FETCHING as _CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as fa

from rnnstream.worker.intake import BatchIntake

_LOG_OVERHEAD = 12  # offset (int64) + length (int32) before every batch
_MAGIC_OFFSET = 16  # offset, length, partition leader epoch (int32), then magic (int8)


class _LenientSlice(bytearray):
    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return super().decode(encoding, "replace")


class _LenientBuffer(bytearray):
    @overload
    def __getitem__(self, key: SupportsIndex) -> int: ...
    @overload
    def __getitem__(self, key: slice) -> bytearray: ...
    def __getitem__(self, key: SupportsIndex | slice) -> int | bytearray:
        if isinstance(key, slice):
            return _LenientSlice(super().__getitem__(key))
        return super().__getitem__(key)


class _LenientRecordBatch(_DefaultRecordBatchPy):  # type: ignore[misc]
    """aiokafka's pure-Python v2 batch reader over a buffer whose slices decode leniently."""

    def __init__(self, buffer: memoryview) -> None:
        super().__init__(buffer)
        self._buffer = _LenientBuffer(buffer)

    def _maybe_uncompress(self) -> None:
        super()._maybe_uncompress()
        current = getattr(self, "_buffer")  # noqa: B009 (replaced by the base class on decompression)
        if not isinstance(current, _LenientBuffer):
            self._buffer = _LenientBuffer(current)


class _FallbackBatch:
    """A fast batch that is read again leniently when it fails to decode."""

    def __init__(self, fast: Any, raw: memoryview) -> None:
        self._fast = fast
        self._raw = raw

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fast, name)

    def __iter__(self) -> Iterator[Any]:
        try:
            records = list(self._fast)
        except UnicodeDecodeError:
            records = list(_LenientRecordBatch(self._raw))
        return iter(records)


class LenientMemoryRecords:
    """aiokafka's ``MemoryRecords`` (same interface) whose v2 batches fall back to the lenient reader."""

    def __init__(self, data: bytes) -> None:
        self._fast = _FastMemoryRecords(data)
        self._data = memoryview(data)
        self._pos = 0

    def size_in_bytes(self) -> int:
        return int(self._fast.size_in_bytes())

    def has_next(self) -> bool:
        return bool(self._fast.has_next())

    def next_batch(self) -> Any:
        fast = self._fast.next_batch()
        if fast is None:
            return None
        (length,) = struct.unpack_from(">i", self._data, self._pos + 8)
        raw = self._data[self._pos : self._pos + _LOG_OVERHEAD + length]
        self._pos += _LOG_OVERHEAD + length
        if len(raw) > _MAGIC_OFFSET and raw[_MAGIC_OFFSET] >= 2:
            return _FallbackBatch(fast, raw)
        return fast  # legacy (v0/v1) formats carry no headers


def install_lenient_records() -> None:
    """Make aiokafka's fetcher read batches with :class:`LenientMemoryRecords` (idempotent)."""
    aiokafka_fetcher.MemoryRecords = LenientMemoryRecords  # type: ignore[misc]


async def drain_in_batches(consumer: Any, fetcher: Any, intake: BatchIntake) -> None:
    """faust's ``Consumer._drain_messages`` (the fetch loop), handing each fetch's records of the intake's
    topic to ``intake`` in one call instead of one callback per record; records of other topics take
    faust's callback as before. Offsets, gaps, periodic commits and the stop conditions are faust's."""
    callback = consumer.callback
    getmany = consumer.getmany
    consumer_should_stop = consumer._stopped.is_set
    fetcher_should_stop = fetcher._stopped.is_set
    get_read_offset = consumer._read_offset.__getitem__
    set_read_offset = consumer._read_offset.__setitem__
    acks_enabled_for = consumer.app.topics.acks_enabled_for
    topic = intake.topic
    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            consumer.diag.set_flag(_CONSUMER_FETCHING)
            await consumer.sleep(0)  # getmany may return at once, again and again
            if consumer.should_stop:
                continue
            batch: list[Any] = []
            since_yield = 0
            async for tp, message in getmany(timeout=1.0):
                since_yield += 1
                if since_yield > 500:  # a large fetch: let the loop breathe, as faust does every 100
                    await asyncio.sleep(0)
                    since_yield = 0
                offset = message.offset
                r_offset = get_read_offset(tp)
                if r_offset is not None and offset < r_offset:
                    continue  # already read (faust drops it too)
                if r_offset and offset - r_offset > 1 and acks_enabled_for(message.topic):
                    await consumer._add_gap(tp, r_offset + 1, offset)
                commit_every = consumer._commit_every
                if commit_every is not None and consumer._n_acked >= commit_every:
                    consumer._n_acked = 0
                    await consumer.commit()
                if message.topic == topic:
                    batch.append(message)
                else:
                    await consumer.wait_first(callback(message), consumer.suspend_flow.wait())
                set_read_offset(tp, offset)
            if batch:
                await consumer.wait_first(intake.put(batch), consumer.suspend_flow.wait())
            consumer.diag.unset_flag(_CONSUMER_FETCHING)
    except consumer.consumer_stopped_errors:
        if consumer.transport.app.should_stop:
            consumer.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if consumer.transport.app.should_stop:
            consumer.log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        consumer.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        consumer.diag.unset_flag(_CONSUMER_FETCHING)


def low_latency_transport(
    app: Any, fetch_max_wait_ms: int, intake: BatchIntake | None = None
) -> fa.Transport:
    """A transport for ``app`` whose consumer fetches with ``fetch_max_wait_ms`` and reads records whose
    headers do not decode (see the module docstring); with ``intake``, its fetch loop hands the records
    of the intake's topic over a fetch at a time (:func:`drain_in_batches`, ``worker/intake.py``)."""
    install_lenient_records()

    class _ConsumerThread(fa.AIOKafkaConsumerThread):  # type: ignore[misc]
        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_max_wait_ms = fetch_max_wait_ms
            return consumer

    class _Consumer(fa.Consumer):  # type: ignore[misc]
        def _new_consumer_thread(self) -> Any:
            return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

        async def _drain_messages(self, fetcher: Any) -> None:
            if intake is None:
                await super()._drain_messages(fetcher)
            else:
                await drain_in_batches(self, fetcher, intake)

    class _Transport(fa.Transport):  # type: ignore[misc]
        Consumer = _Consumer

    return _Transport(app.conf.broker_consumer, app)
