"""What faust itself costs per consumed event, by transport driver: ``kafka://`` (aiokafka, what the worker
uses, with its short fetch wait) against ``confluent://`` (librdkafka through confluent-kafka).

For each driver a fresh faust app in its own process consumes the same pre-produced topic with the worker's
agent shape (``noack_take(256, 5 ms)``, every event acknowledged, nothing else done with it) until it has seen
every event, and reports events/s and CPU µs per event of that process. That is the ceiling faust's
consumption puts on the worker before any step code runs. ``kafka-intake`` is ``kafka://`` with the worker's
batched intake (``worker/intake.py``: a fetch's records handed to the agent at once, taken in batches of 256,
each acknowledged), which is what the worker runs by default. Prints a table and a JSON document.

    .venv/bin/python scripts/bench_faust_driver.py --events 30000

Variations the docs' figures name, by environment variable (they reach the consumer processes):
``BENCH_FAUST_QUEUE=1`` reads the agent's input straight from its channel's queue instead of ``noack_take``;
``BENCH_FAUST_PLAIN=1`` keeps faust's own transport (1,500 ms fetch wait) instead of the worker's;
``BENCH_FAUST_APP_KWARGS='{"broker_max_poll_records": 5000}'`` passes settings to ``faust.App``.

The confluent driver needs ``confluent-kafka`` (installed with the ``peer`` extra). Both runs use the same
private tansu broker, topic (8 partitions) and values (1.6 KB each, about a v2 event of 10x40 frames).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import typer

app_cli = typer.Typer(add_completion=False, help=__doc__)
VALUE_BYTES = 1_640
INTAKE = "kafka-intake"  # kafka:// with the worker's batched intake (worker/intake.py)
PARTITIONS = 8


async def _produce(bootstrap: str, topic: str, n: int, streams: int) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        value = os.urandom(VALUE_BYTES)
        futures = [
            await producer.send(topic, value, key=f"stream-{i % streams:05d}".encode()) for i in range(n)
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def _consume(driver: str, bootstrap: str, topic: str, n: int, out: Path) -> None:
    """The child: a faust app that acknowledges ``n`` events and writes its figures to ``out``."""
    import faust

    from rnnstream.worker.intake import BatchIntake
    from rnnstream.worker.transport import low_latency_transport

    batched = driver == INTAKE
    app = faust.App(
        f"bench-driver-{uuid.uuid4().hex[:8]}",
        broker=f"{'kafka' if batched else driver}://{bootstrap}",
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        autodiscover=False,
        store="memory://",
        consumer_auto_offset_reset="earliest",
        topic_partitions=PARTITIONS,
        **json.loads(os.environ.get("BENCH_FAUST_APP_KWARGS", "{}")),
    )
    intake = BatchIntake(app, topic, max_events=256) if batched else None
    if intake is not None:
        app.flow_control.manage_queue(intake)  # type: ignore[arg-type]
    if batched or (driver == "kafka" and not os.environ.get("BENCH_FAUST_PLAIN")):
        app.transport = low_latency_transport(app, 10, intake)
    source = app.topic(topic, partitions=PARTITIONS)
    seen = 0
    first = 0.0
    cpu_first = 0.0

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def counted(k: int) -> None:
        nonlocal seen, first, cpu_first
        if not seen:
            first, cpu_first = time.perf_counter(), cpu()
        seen += k
        if seen >= n:
            elapsed, used = time.perf_counter() - first, cpu() - cpu_first
            out.write_text(json.dumps({"events": seen, "seconds": elapsed, "cpu_s": used}))
            os._exit(0)

    @app.agent(source)
    async def count(stream: Any) -> None:
        if intake is not None:  # the worker's batched intake: the stream stays unread
            while True:
                messages = await intake.take()
                intake.ack(messages)
                counted(len(messages))
        async for events in stream.noack_take(256, within=0.005):
            for event in events:
                event.ack()
            counted(len(events))

    worker = faust.Worker(app, loglevel="WARNING", quiet=True)
    worker.execute_from_commandline()


@app_cli.command()
def main(
    events: int = typer.Option(30_000, min=1000, help="Events to produce and consume per driver."),
    streams: int = typer.Option(1000, min=1, help="Distinct keys (streams)."),
    drivers: str = typer.Option(
        f"kafka,{INTAKE},confluent",
        help=f"Comma-separated faust drivers to measure; {INTAKE}: kafka:// with the worker's batched intake.",
    ),
    child_timeout: float = typer.Option(120.0, help="Seconds one driver may take before it counts as stuck."),
    child: str = typer.Option("", hidden=True),
    bootstrap: str = typer.Option("", hidden=True),
    topic: str = typer.Option("", hidden=True),
    out: Path = typer.Option(Path(), hidden=True),
) -> None:
    """Measure faust's consumption cost per event for each driver (see the module docstring)."""
    if child:
        _consume(child, bootstrap, topic, events, out)
        return
    from rich.console import Console
    from rich.table import Table

    from rnnstream.localservices.cleanup import create_topics
    from rnnstream.localservices.session import broker_for_run

    results: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory(prefix="rnnstream-driver-") as tmp,
        broker_for_run(None, Path(tmp)) as (
            address,
            _,
        ),
    ):
        for driver in [d.strip() for d in drivers.split(",") if d.strip()]:
            name = f"bench-driver-{driver}-{uuid.uuid4().hex[:6]}"
            asyncio.run(create_topics(address, [name], PARTITIONS))
            asyncio.run(_produce(address, name, events, streams))
            out_file = Path(tmp) / f"{driver}.json"
            command = [sys.executable, __file__, "--child", driver, "--bootstrap", address, "--topic", name]
            command += ["--events", str(events), "--out", str(out_file)]
            with contextlib.suppress(subprocess.TimeoutExpired):
                subprocess.run(command, timeout=child_timeout, check=False, capture_output=True)
            if not out_file.exists():
                results[driver] = {"error": f"consumed nothing to the end within {child_timeout:g} s"}
                continue
            figures = json.loads(out_file.read_text())
            figures["events_per_s"] = round(figures["events"] / figures["seconds"])
            figures["cpu_us_per_event"] = round(figures["cpu_s"] / figures["events"] * 1e6, 1)
            results[driver] = figures
    table = Table(
        title=f"faust consumption only: {events} events of {VALUE_BYTES} B, {PARTITIONS} partitions"
    )
    for column in ("driver", "events/s", "CPU µs/event", "note"):
        table.add_column(column, justify="right" if column != "driver" else "left")
    for driver, r in results.items():
        table.add_row(
            driver, str(r.get("events_per_s", "-")), str(r.get("cpu_us_per_event", "-")), r.get("error", "")
        )
    Console(stderr=True).print(table)
    typer.echo(json.dumps({"events": events, "value_bytes": VALUE_BYTES, "drivers": results}, indent=2))


if __name__ == "__main__":
    app_cli()
