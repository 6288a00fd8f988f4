"""Micro-benchmark of the worker's batch step without Kafka or Redis: CPU per chunk by batch size.

    .venv/bin/python scripts/bench_processor.py                       # batches of 8, 43, 128 and 256 events
    .venv/bin/python scripts/bench_processor.py --batch 43 --repeat 7 --json-out processor.json

What runs is the worker's own code for one batch: ``BatchProcessor.prepare`` (decode v2 events, admit, look
the records up in the state cache, step the model in ONNX Runtime on the loop's thread, encode predictions
and records), ``publish`` through the worker's ``BatchPublisher`` (partitioner and one record batch per
partition; the producer underneath is a stand-in that keeps nothing and acknowledges at once) and
``store_state`` into the in-memory store (the fence, then the cache). The load is the bench's: ``--streams``
synthetic streams of 10 x 40 frames chunks for ``fsdd-digits-lstm``, sent slot by slot (chunk 0 of every
stream, then chunk 1, ...), cut into batches of ``--batch`` events in that order, which is what a worker that
keeps up at real-time pace consumes (docs/benchmarks.md: about 45 events per batch at 3,000 chunks/s).

Each figure is the process CPU time of one pass over the whole load divided by its chunks, in µs; a pass
starts from an empty store and cache, and its first ``--warm`` slots are not timed. The passes of the batch
sizes take turns, ``--repeat`` rounds, and the table gives the median and the best; the ONNX Runtime share
(``rnnstream_onnx_seconds``) is given beside it. The rest of the worker's cost at real-time pace (faust's
consumer, the broker round trips, Redis) is not in these figures: ``rnnstream bench`` measures all of it.
Prints a table on stderr and the JSON document on stdout.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from prometheus_client import CollectorRegistry
from rich.console import Console
from rich.table import Table

from rnnstream.bench.load import LoadSpec, Source, build_workload
from rnnstream.state.memory import MemoryStateStore
from rnnstream.worker.loaded_models import LoadedModels
from rnnstream.worker.metrics import WorkerMetrics
from rnnstream.worker.processor import INLINE, BatchProcessor, ProcessorConfig, RawEvent
from rnnstream.worker.publisher import BatchPublisher
from rnnstream.worker.state_cache import StateCache

ROOT = Path(__file__).resolve().parents[1]
MODEL = "fsdd-digits-lstm"
PARTITIONS = 8


class _Batch:
    """A record batch that keeps only a count (the producer's ``create_batch`` stand-in)."""

    def __init__(self) -> None:
        self.records = 0

    def append(self, *, key: bytes | None, value: bytes, timestamp: int | None) -> object:
        self.records += 1
        return self


class _NullProducer:
    """What ``BatchPublisher`` calls on an ``AIOKafkaProducer``, acknowledging every batch at once."""

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(PARTITIONS))

    def create_batch(self) -> _Batch:
        return _Batch()

    async def send_batch(self, batch: _Batch, topic: str, *, partition: int) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def _events(models: LoadedModels, streams: int, seconds: float) -> list[RawEvent]:
    spec = LoadSpec(streams=streams, seconds=seconds, chunk_ms=100, source=Source.SYNTHETIC, seed=0, tag="p")
    workload = build_workload(spec, models.get(MODEL, None).manifest)
    stamp = int(time.time() * 1000)
    return [RawEvent(e.render(stamp), e.key, "in", i % PARTITIONS, i) for i, e in enumerate(workload.events)]


async def _pass(
    models: LoadedModels, events: Sequence[RawEvent], batch: int, warm: int
) -> tuple[float, float]:
    """One pass over ``events`` in batches of ``batch``: (µs of CPU per timed chunk, µs of it in ONNX)."""
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    publisher = BatchPublisher(_NullProducer(), "predictions", "dead-letters")
    processor = BatchProcessor(
        models,
        MemoryStateStore(),
        publisher,
        metrics,
        ProcessorConfig(),
        executor=INLINE,  # the worker's default (RNNSTREAM_STEP_IN_THREAD=false)
        cache=StateCache(len(events), max_age_s=3600.0, metrics=metrics),
    )

    async def run(part: Sequence[RawEvent]) -> None:
        for start in range(0, len(part), batch):
            await processor.process(part[start : start + batch])

    await run(events[:warm])
    onnx_before = _onnx_seconds(registry)
    started = time.process_time()
    await run(events[warm:])
    spent = time.process_time() - started
    timed = len(events) - warm
    return 1e6 * spent / timed, 1e6 * (_onnx_seconds(registry) - onnx_before) / timed


def _onnx_seconds(registry: CollectorRegistry) -> float:
    value = registry.get_sample_value("rnnstream_onnx_seconds_sum", {"model": MODEL})
    return float(value or 0.0)


def main(
    batch: Annotated[list[int] | None, typer.Option(help="Events per batch (repeat the option).")] = None,
    streams: Annotated[int, typer.Option(min=1, help="Concurrent streams.")] = 300,
    seconds: Annotated[float, typer.Option(min=0.2, help="Seconds of audio per stream.")] = 3.0,
    warm: Annotated[int, typer.Option(min=0, help="Slots (one chunk of every stream) not timed.")] = 1,
    repeat: Annotated[int, typer.Option(min=1, help="Rounds; the batch sizes take turns.")] = 5,
    json_out: Annotated[Path | None, typer.Option(help="Also write the JSON document here.")] = None,
) -> None:
    """Print µs of CPU per chunk of the worker's batch step (no Kafka, no Redis) for each batch size."""
    sizes = batch or [8, 43, 128, 256]
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    models = LoadedModels.load(ROOT / "models" / "repository", [(MODEL, None)])
    events = _events(models, streams, seconds)
    warm_events = min(len(events) - 1, warm * streams)
    runs: dict[int, list[tuple[float, float]]] = {n: [] for n in sizes}
    for _ in range(repeat):
        for n in sizes:
            runs[n].append(asyncio.run(_pass(models, events, n, warm_events)))
    results: dict[str, dict[str, Any]] = {}
    table = Table(title=f"BatchProcessor, {len(events) - warm_events} chunks of 10 x 40 frames per pass")
    for column in ("batch", "µs/chunk median", "best", "of which ONNX Runtime", "other µs/chunk"):
        table.add_column(column, justify="right")
    for n in sizes:
        totals = [total for total, _ in runs[n]]
        onnx = statistics.median(o for _, o in runs[n])
        median = statistics.median(totals)
        results[str(n)] = {
            "us_per_chunk": {"median": round(median, 1), "min": round(min(totals), 1), "runs": totals},
            "onnx_us_per_chunk": round(onnx, 1),
        }
        table.add_row(str(n), f"{median:.1f}", f"{min(totals):.1f}", f"{onnx:.1f}", f"{median - onnx:.1f}")
    Console(stderr=True).print(table)
    document = {
        "command": "scripts/bench_processor.py " + " ".join(sys.argv[1:]),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "load": {
            "streams": streams,
            "seconds": seconds,
            "chunks": len(events),
            "timed": len(events) - warm_events,
        },
        "results": results,
    }
    text = json.dumps(document, indent=2)
    if json_out is not None:
        json_out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    typer.run(main)
