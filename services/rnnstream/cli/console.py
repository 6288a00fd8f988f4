"""Terminal front of ``rnnstream produce`` and ``rnnstream tail``: progress bars, summaries, the live table.

Everything here writes to a :class:`rich.console.Console` given by the caller (stderr for progress and
messages); JSON lines for scripts go to standard output with ``print``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rnnstream.clients.chunks import Chunk, StreamReport, StreamSource
from rnnstream.clients.consumer import PredictionReader, ReceivedPrediction
from rnnstream.clients.producer import EventProducer, Idempotence
from rnnstream.clients.publishing import publish_streams
from rnnstream.clients.target import ModelTarget
from rnnstream.events.codec import DEFAULT_WIRE_FORMAT, WireFormat, encode_prediction
from rnnstream.events.models import PredictionEvent

#: Audio longer than this in total gets a progress bar (on a terminal); lines of text always do.
LONG_INPUT_S = 10.0


@dataclass(frozen=True)
class ProduceJob:
    """What ``rnnstream produce`` was asked to do."""

    target: ModelTarget
    broker: str
    topic: str
    unit: str  # "frames", "samples" (raw PCM) or "tokens"
    seconds_per_step: float | None = (
        None  # frames: hop / rate, for a progress bar in seconds (PCM: per chunk)
    )
    total_s: float | None = None
    paced: bool = False
    concurrency: int = 16
    idempotence: Idempotence = "auto"
    wire_format: WireFormat = DEFAULT_WIRE_FORMAT


def report_line(report: StreamReport, unit: str) -> dict[str, Any]:
    """The ``--json`` line of a stream: ``stream_id``, what it came from, ``chunks``, frames or tokens."""
    doc: dict[str, Any] = {"stream_id": report.stream_id, **(report.extra or {})}
    doc.update({"chunks": report.chunks, unit: report.steps})
    if report.error is not None:
        doc["error"] = report.error
    return doc


def produce(
    job: ProduceJob, sources: Iterable[StreamSource], err: Console, *, as_json: bool, quiet: bool
) -> list[StreamReport]:
    """Publish ``sources`` with a progress bar on ``err``; ``--json`` lines as streams finish.

    Raises :class:`~rnnstream.errors.RnnstreamError` when the broker cannot be used.
    """
    show = not quiet and err.is_terminal and (job.total_s is None or job.total_s >= LONG_INPUT_S)
    amount = "{task.completed:.1f}/{task.total:.1f} s" if job.total_s else "{task.fields[steps]} " + job.unit
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn(amount),
        TextColumn("{task.fields[streams]} streams done"),
        TimeElapsedColumn(),
        console=err,
        disable=not show,
        transient=True,
    )
    bar = progress.add_task(f"producing to {job.topic}", total=job.total_s, steps=0, streams=0)
    counts = {"steps": 0, "streams": 0}

    def on_chunk(report: StreamReport, chunk: Chunk) -> None:
        counts["steps"] += chunk.steps
        if chunk.audio_s is not None:  # a PCM packet knows its own rate
            seconds = chunk.audio_s
        else:
            seconds = chunk.steps * job.seconds_per_step if job.seconds_per_step else chunk.steps
        progress.update(bar, advance=seconds, steps=counts["steps"])

    def on_done(report: StreamReport) -> None:
        counts["streams"] += 1
        progress.update(bar, streams=counts["streams"])
        if as_json:
            print(json.dumps(report_line(report, job.unit)), flush=True)
        if report.error is not None and not quiet:
            progress.console.print(
                f"[red]error:[/red] {escape(report.error)}", highlight=False, soft_wrap=True
            )

    async def run() -> list[StreamReport]:
        async with EventProducer(
            job.broker, job.topic, wire_format=job.wire_format, idempotence=job.idempotence
        ) as producer:
            return await publish_streams(
                producer,
                job.target,
                sources,
                paced=job.paced,
                max_active=job.concurrency,
                on_chunk=on_chunk,
                on_done=on_done,
            )

    with progress:
        return asyncio.run(run())


def print_summary(
    job: ProduceJob, reports: list[StreamReport], elapsed_s: float, out: Console, err: Console, *, table: bool
) -> None:
    """A table of the streams (``table=True``, up to 50) on ``out`` and one summary line on ``err``."""
    failed = sum(not r.ok for r in reports)
    if table and 0 < len(reports) <= 50:
        title = f"{job.target.name} v{job.target.version} → {job.topic}"
        grid = Table("stream", "input", "chunks", job.unit, title=title)
        for r in reports:
            grid.add_row(
                escape(r.stream_id),
                escape(r.label[:60]),
                str(r.chunks),
                str(r.steps) if r.ok else "[red]failed",
            )
        out.print(grid)
    err.print(
        f"produced {len(reports) - failed} streams ({failed} failed), {sum(r.chunks for r in reports)} "
        f"chunks, {sum(r.steps for r in reports)} {job.unit} to {escape(job.topic)} in {elapsed_s:.1f} s",
        highlight=False,
    )


def utterance_span(event: PredictionEvent) -> str:
    """``utt 3  12.34-12.71 s`` for a prediction of a segmented stream, ``""`` otherwise."""
    u = event.utterance
    if u is None:
        return ""
    return f"utt {u.index}  {u.start_ms / 1000:.2f}-{u.end_ms / 1000:.2f} s"


def utterance_verdict(event: PredictionEvent) -> str:
    """``FINAL 7 (0.98)`` for an utterance's final prediction, ``partial 7 (0.61)`` for the others."""
    kind = "FINAL" if event.final else "partial"
    return f"{kind} {event.label} ({event.scores.get(event.label, 0.0):.2f})"


def prediction_key(event: PredictionEvent) -> tuple[str, int, int]:
    """What identifies one prediction: several utterances of a stream may end on the same chunk (seq), so
    ``(stream_id, seq, utterance index)`` (-1 without an utterance); a duplicate has the same key."""
    return event.stream_id, event.seq, event.utterance.index if event.utterance is not None else -1


class TailBoard:
    """The latest prediction per stream (most recent first) and running counts."""

    def __init__(self, rows: int = 20) -> None:
        self.rows = rows
        self.latest: OrderedDict[str, ReceivedPrediction] = OrderedDict()
        self.received = 0
        self.finals: set[tuple[str, int, int]] = set()  # prediction_key of each final (one per utterance)
        self.segmented = False  # an utterance prediction was seen: the table gets its column

    def add(self, received: ReceivedPrediction) -> None:
        """Record one prediction."""
        event = received.event
        self.received += 1
        if event.final:
            self.finals.add(prediction_key(event))
        if event.utterance is not None:
            self.segmented = True
        self.latest.pop(event.stream_id, None)
        self.latest[event.stream_id] = received

    def render(self, title: str) -> Table:
        """The table: stream, (utterance,) label, confidence, frames seen, seq, final, latency."""
        shown = list(reversed(self.latest.values()))[: self.rows]
        caption = (
            f"{self.received} predictions, {len(self.latest)} streams ({len(shown)} shown), "
            f"{len(self.finals)} final"
        )
        table = Table(title=title, caption=caption)
        table.add_column("stream", overflow="fold", max_width=40)
        names: tuple[str, ...] = ("label", "confidence", "frames seen", "seq", "final", "latency ms")
        if self.segmented:
            names = ("utterance", *names)
        for name in names:
            table.add_column(name, justify="left" if name in ("utterance", "label", "final") else "right")
        for received in shown:
            event = received.event
            cells = [
                escape(event.stream_id),
                escape(event.label),
                f"{event.scores.get(event.label, 0.0):.3f}",
                str(event.steps_seen),
                str(event.seq),
                "final" if event.final else ("gap" if event.gap else ""),
                str(received.latency_ms),
            ]
            if self.segmented:
                cells.insert(1, utterance_span(event))
            style = "bold green" if event.final else ("dim" if event.utterance is not None else None)
            table.add_row(*cells, style=style)
        return table


def describe(received: ReceivedPrediction) -> str:
    """One plain line per prediction (``tail`` when stdout is not a terminal and not JSON); a prediction of a
    segmented stream reads ``<stream> seq=N utt 3  12.34-12.71 s  FINAL 7 (0.98)  latency_ms=12``."""
    e = received.event
    if e.utterance is not None:
        return (
            f"{e.stream_id} seq={e.seq} {utterance_span(e)}  {utterance_verdict(e)}  "
            f"latency_ms={received.latency_ms}"
        )
    return (
        f"{e.stream_id} seq={e.seq} label={e.label} confidence={e.scores.get(e.label, 0.0):.3f} "
        f"frames={e.steps_seen} latency_ms={received.latency_ms}{' final' if e.final else ''}"
    )


async def tail(
    reader: PredictionReader,
    out: Console,
    *,
    mode: str,
    until_final: int | None = None,
    timeout_s: float | None = None,
    rows: int = 20,
) -> TailBoard:
    """Show predictions from a started ``reader`` until ``until_final`` finals or ``timeout_s`` pass.

    ``mode``: ``json`` (the prediction events, one per line), ``live`` (a table that updates) or ``lines``.
    Raises :class:`TimeoutError` when ``timeout_s`` passes first.
    """
    board = TailBoard(rows)
    title = f"predictions on {reader.topic}"
    live = (
        Live(board.render(title), console=out, refresh_per_second=8, transient=False)
        if mode == "live"
        else None
    )

    async def consume() -> None:
        async for received in reader:
            board.add(received)
            if mode == "json":
                print(encode_prediction(received.event).decode("utf-8"), flush=True)  # as the worker wrote it
            elif live is not None:
                if received.event.final and received.event.utterance is not None:
                    # an utterance's result stays on screen above the table, which shows only the latest
                    e = received.event
                    live.console.print(
                        f"{escape(e.stream_id)}  {utterance_span(e)}  [bold green]{escape(utterance_verdict(e))}",
                        highlight=False,
                    )
                live.update(board.render(title))
            else:
                out.print(describe(received), highlight=False, soft_wrap=True, markup=False)
            if until_final is not None and len(board.finals) >= until_final:
                return

    started = time.monotonic()
    if live is not None:
        live.start()
    try:
        async with asyncio.timeout(timeout_s):
            await consume()
    finally:
        if live is not None:
            live.update(board.render(f"{title} ({time.monotonic() - started:.0f} s)"))
            live.stop()
    return board
