"""Producing many streams at once: chunks interleaved round-robin, optionally paced at media speed.

Up to ``max_active`` streams are open at a time; each sends its next chunk in turn (round-robin by ``seq``),
and when one ends the next source opens. With ``paced=True`` a chunk waits until its ``due_s`` has passed
since its stream started (``--realtime``: audio at the speed it was recorded; the clock starts when the first
chunk is ready). Chunks are computed in a worker
thread (feature extraction is CPU work), so the event loop keeps the producer's network I/O going.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from rnnstream.clients.chunks import Chunk, StreamReport, StreamSource, now_ms
from rnnstream.clients.producer import EventProducer
from rnnstream.clients.target import ModelTarget
from rnnstream.errors import InputError

ChunkCallback = Callable[[StreamReport, Chunk], None]
ReportCallback = Callable[[StreamReport], None]


@dataclass
class _Open:
    source: StreamSource
    chunks: Iterator[Chunk]
    opened_at: float
    base_round: float
    report: StreamReport = field(init=False)

    def __post_init__(self) -> None:
        self.report = StreamReport(self.source.stream_id, self.source.label, extra=self.source.extra)


async def publish_streams(
    producer: EventProducer,
    target: ModelTarget,
    sources: Iterable[StreamSource],
    *,
    paced: bool = False,
    max_active: int = 16,
    on_chunk: ChunkCallback | None = None,
    on_done: ReportCallback | None = None,
) -> list[StreamReport]:
    """Send every chunk of every source through ``producer`` and wait until the broker has them all.

    A source that fails (:class:`InputError`: unreadable, too short, no tokens) is reported with its error and
    the others go on. Returns one report per source, in the order the streams finished.
    """
    if max_active < 1:
        raise InputError(f"at least one stream must be open at a time, got {max_active}")
    loop = asyncio.get_running_loop()
    pending = iter(sources)
    heap: list[tuple[float, int, Chunk, _Open]] = []
    order = itertools.count()
    reports: list[StreamReport] = []
    open_count = 0
    current_round = 0.0

    def finish(stream: _Open, error: str | None = None) -> None:
        nonlocal open_count
        open_count -= 1
        stream.report.error = error
        reports.append(stream.report)
        if on_done is not None:
            on_done(stream.report)

    async def advance(stream: _Open) -> None:
        try:
            chunk = await asyncio.to_thread(next, stream.chunks, None)
        except InputError as exc:
            finish(stream, str(exc))
            return
        if chunk is None:
            finish(stream)
            return
        if chunk.seq == 0:  # the clock starts when the first chunk is ready, not at open (warm-up, I/O)
            stream.opened_at = loop.time() - chunk.due_s
        due = stream.opened_at + chunk.due_s if paced else stream.base_round + chunk.seq
        heapq.heappush(heap, (due, next(order), chunk, stream))

    async def fill() -> None:
        nonlocal open_count
        while open_count < max_active:
            source = await asyncio.to_thread(next, pending, None)  # stdin lines may block
            if source is None:
                return
            open_count += 1
            await advance(_Open(source, source.open(), loop.time(), current_round))

    try:
        await fill()
        while heap:
            due, _, chunk, stream = heapq.heappop(heap)
            if paced:
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            else:
                current_round = due
            await producer.send(chunk.to_event(target, now_ms()))
            stream.report.chunks += 1
            stream.report.steps += chunk.steps
            if on_chunk is not None:
                on_chunk(stream.report, chunk)
            await advance(stream)
            await fill()
        await producer.flush()
    finally:
        for _, _, _, stream in heap:
            close = getattr(stream.chunks, "close", None)
            if close is not None:
                close()
    return reports
