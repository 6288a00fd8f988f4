"""The ``floor`` pipeline: the same load through the broker and the Kafka clients with no work in between.

:class:`FloorPipeline` runs this module as a process of its own (:class:`~.app_process.AppProcess`), as the
faust workers and the quix app run, so its latency is not made longer by the bench process's load generator
and prediction consumer::

    python -m rnnstream.bench.floor --broker HOST:PORT --tag TAG --ready-file FILE --stats-file FILE

It consumes the pipeline's input topic in its own group with the bench's consumer settings
(``fetch_max_wait_ms=10``), in batches of ``getmany(max_records=256, timeout_ms=5)``; for each event it reads
``stream_id``, ``seq`` and ``produced_at_ms`` (the codec's decode: a few microseconds for a v2 event) and
publishes one small, never final, prediction-shaped record through the worker's
:class:`~rnnstream.worker.publisher.BatchPublisher` (one batch per partition, ``acks=all``, one await per
batch); it commits its offsets every 0.5 s, as the worker does. No model, no Redis, no state.

So its latency is what the broker, the Kafka clients and this machine cost for the two hops every pipeline
makes (load generator → pipeline → the bench's prediction consumer) at this rate, before any step code: no
pipeline can be quicker than its floor on the same broker. It publishes no scores, so it takes no part in the
comparison of the final predictions. Its batch figure (events per fetch) comes from ``--stats-file``, which the
process rewrites before it publishes each batch (so it counts every record the bench has received).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rnnstream.bench.app_process import AppProcess
from rnnstream.bench.load import make_producer
from rnnstream.bench.pipelines import (
    BATCH_MAX_RECORDS,
    BATCH_TIMEOUT_MS,
    FLOOR,
    BatchStats,
    PipelineNames,
    make_group_consumer,
)
from rnnstream.events.codec import decode_event, event_key
from rnnstream.events.models import DEFAULT_MAX_CHUNK_STEPS, DEFAULT_MAX_EVENT_BYTES
from rnnstream.worker.publisher import BatchPublisher

#: How often the floor commits its offsets: the worker's faust commit interval.
COMMIT_INTERVAL_S = 0.5


def floor_record(value: bytes) -> tuple[bytes, bytes]:
    """The key and the value the floor publishes for one input event: the fields the bench's prediction
    consumer times and counts (``stream_id``, ``seq``, ``produced_at_ms``), never final."""
    event = decode_event(value, max_bytes=DEFAULT_MAX_EVENT_BYTES, max_steps=DEFAULT_MAX_CHUNK_STEPS)
    out = {
        "stream_id": event.stream_id,
        "seq": event.seq,
        "produced_at_ms": event.produced_at_ms,
        "final": False,
    }
    return event_key(event.stream_id), json.dumps(out, separators=(",", ":")).encode()


def _write_stats(path: Path, batches: int, events: int) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"batches": batches, "events": events}), encoding="utf-8")
    tmp.replace(path)


async def run_floor(bootstrap: str, names: PipelineNames, ready_file: Path, stats_file: Path) -> None:
    """Consume → publish → commit until SIGTERM or SIGINT (see the module docstring)."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    consumer = make_group_consumer(bootstrap, names)
    producer = make_producer(bootstrap, linger_ms=0)
    publisher = BatchPublisher(producer, names.predictions, names.dead_letters)
    await producer.start()
    await consumer.start()
    batches = events = 0
    ready = False
    last_commit = time.monotonic()
    try:
        while not stopping.is_set():
            fetched = await consumer.getmany(timeout_ms=BATCH_TIMEOUT_MS, max_records=BATCH_MAX_RECORDS)
            if not ready and consumer.assignment():
                ready_file.write_text(f"{len(consumer.assignment())}\n", encoding="utf-8")
                ready = True
            values = [r.value or b"" for records in fetched.values() for r in records]
            if values:
                batches += 1
                events += len(values)
                # before the publish: once a batch's records are out, the figures count them
                _write_stats(stats_file, batches, events)
                await publisher.send_predictions([floor_record(v) for v in values])
            if time.monotonic() - last_commit >= COMMIT_INTERVAL_S:
                await consumer.commit()
                last_commit = time.monotonic()
    finally:
        await consumer.commit()
        _write_stats(stats_file, batches, events)
        await consumer.stop()
        await producer.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and run the floor until SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m rnnstream.bench.floor",
        description="The bench's floor pipeline: consume the run's input topic and publish one small record "
        "per event to its prediction topic, with no work in between (rnnstream bench starts it).",
    )
    parser.add_argument("--broker", required=True, help="bootstrap address, HOST:PORT")
    parser.add_argument("--tag", required=True, help="the bench run's tag (names the topics and the group)")
    parser.add_argument("--ready-file", required=True, type=Path, help="written once partitions are assigned")
    parser.add_argument("--stats-file", required=True, type=Path, help="batches and events so far (JSON)")
    args = parser.parse_args(argv)
    names = PipelineNames(args.tag, FLOOR)
    asyncio.run(run_floor(args.broker, names, args.ready_file, args.stats_file))


class FloorPipeline(AppProcess):
    """One ``python -m rnnstream.bench.floor`` process consuming the pipeline's input topic."""

    name = FLOOR

    def __init__(self, names: PipelineNames, *, bootstrap: str, work_dir: Path) -> None:
        self.names = names
        self.stats_file = work_dir / "floor-stats.json"
        ready = work_dir / "floor-ready"
        argv = [sys.executable, "-m", "rnnstream.bench.floor", "--broker", bootstrap, "--tag", names.tag]
        argv += ["--ready-file", str(ready), "--stats-file", str(self.stats_file)]
        super().__init__(argv, log_path=work_dir / "floor.log", ready_file=ready, what="floor process")

    async def batch_stats(self) -> BatchStats:
        """Mean events per fetched batch (from the stats file); no ONNX Runtime call."""
        try:
            stats = json.loads(self.stats_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return BatchStats(None, None)
        batches = int(stats.get("batches", 0))
        return BatchStats(int(stats.get("events", 0)) / batches if batches else None, None)


if __name__ == "__main__":
    main()
