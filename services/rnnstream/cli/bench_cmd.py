"""``rnnstream bench``: load generator and benchmark of the real pipeline (see ``docs/benchmarks.md``)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rnnstream.repository import DEFAULT_REPOSITORY


class _RichProgress:
    """Progress bars and notes on stderr."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def task(self, description: str, total: int) -> Callable[[int], None]:
        task_id = self.progress.add_task(description, total=total)
        return lambda n: self.progress.advance(task_id, n)

    def note(self, text: str) -> None:
        self.progress.console.print(f"[dim]{text}")


def bench(
    streams: Annotated[int, typer.Option("--streams", min=1, help="Concurrent streams (N).")] = 50,
    seconds: Annotated[float, typer.Option("--seconds", min=0.01, help="Seconds of audio per stream.")] = 5.0,
    chunk_ms: Annotated[
        int, typer.Option("--chunk-ms", min=10, help="Audio per chunk (event), in ms.")
    ] = 100,
    pace: Annotated[
        str, typer.Option("--pace", help="realtime: one chunk per stream every chunk-ms; max: all at once.")
    ] = "max",
    source: Annotated[
        str,
        typer.Option("--source", help="synthetic (seeded log-mel-like noise) or recorded (bundled FSDD)."),
    ] = "synthetic",
    pipelines: Annotated[
        str | None,
        typer.Option(
            "--pipelines",
            help="Comma-separated, run in this order, among faust,aiokafka,quix,naive,floor; default: all "
            "five (quix only when Quix Streams, the peer extra, is installed).",
        ),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="faust worker processes (K).")] = 1,
    broker: Annotated[
        str | None,
        typer.Option(
            "--broker",
            help="Kafka bootstrap host:port; default: a fresh private tansu broker for each pipeline.",
        ),
    ] = None,
    redis_url: Annotated[
        str | None,
        typer.Option(
            "--redis-url",
            help="Redis URL; default: redis://127.0.0.1:6379/0 if it answers, else a private one.",
        ),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json-out", help="Also write the full JSON document (with final scores).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic frames / recording order.")] = 0,
    repository: Annotated[
        Path, typer.Option("--repository", "-r", help="Model repository.")
    ] = DEFAULT_REPOSITORY,
    model: Annotated[str, typer.Option("--model", help="Audio model to drive.")] = "fsdd-digits-lstm",
    linger_ms: Annotated[
        int,
        typer.Option(
            "--linger-ms",
            min=0,
            help="The load generator's producer linger in ms: how long it lets a record batch fill before "
            "sending it. 5 is the default of rnnstream's producers, librdkafka and the Java client; 0 sends "
            "every record at once (many small requests: more broker CPU).",
        ),
    ] = 5,
    partitions: Annotated[
        int,
        typer.Option(
            "--partitions",
            min=1,
            help="Partitions of the bench's input and prediction topics (at least --workers). The local "
            "tansu broker lists every stored record batch of a partition on each fetch, so its cost per "
            "fetch grows with partitions x batches stored; a real Kafka broker's does not.",
        ),
    ] = 8,
) -> None:
    """Drive N streams of audio-feature chunks through the real pipeline (Kafka → worker → Redis → Kafka) and
    measure it against four references on the same inputs, one pipeline after the other:

    faust: K real `rnnstream worker` processes. aiokafka: the same step code (BatchProcessor) on a plain
    aiokafka consume → produce loop, the transport ceiling. quix: the step written as a Quix Streams user
    would (Application, a per-message stateful apply keeping the recurrent state in Quix's RocksDB store with
    its changelog topic, ONNX Runtime with batch 1, to_topic), in its own process; needs the peer extra
    (Quix Streams). naive: per event Redis GET, ONNX Runtime with batch 1, Redis SET, send. floor: consume →
    publish one small record per event with no work between, in its own process: what the broker and the Kafka
    clients alone cost at this rate (it publishes no scores and is left out of the comparison of the finals).

    Per pipeline: offered and achieved chunks/s and frames/s (predictions after the first arrival / time from
    the first to the last arrival), latency p50/p95/p99 (prediction received by the bench − produced_at_ms;
    at --pace max that is queueing time), mean events per batch and rows per ONNX call, CPU seconds and % of
    the pipeline's processes over that window and CPU µs per chunk (those seconds / the chunks the window
    times), the peak RSS of those processes in MiB (faust: its workers summed; quix, floor: their own process;
    in-process pipelines, aiokafka and naive: this process, including its prediction consumer), and
    predictions received / expected. Prints a table and a JSON document (without the per-stream final
    scores, which --json-out adds). Exits 1 when a pipeline misses predictions or the pipelines' final
    predictions disagree. A benchmark prints figures; nothing here is a pass/fail on timings.
    """
    from rnnstream.bench import BenchConfig, run_bench
    from rnnstream.bench.load import Source
    from rnnstream.bench.quix import QUIX_MISSING
    from rnnstream.bench.runner import PIPELINES, Pace, default_pipelines
    from rnnstream.errors import RnnstreamError

    err = Console(stderr=True)
    if pipelines is None and "quix" not in default_pipelines():
        err.print(f"[dim]the quix pipeline is left out: {escape(QUIX_MISSING)}")
    chosen = (
        default_pipelines()
        if pipelines is None
        else tuple(p.strip() for p in pipelines.split(",") if p.strip())
    )
    try:
        config = BenchConfig(
            streams=streams,
            seconds=seconds,
            chunk_ms=chunk_ms,
            pace=Pace(pace),
            source=Source(source),
            pipelines=chosen,
            workers=workers,
            broker=broker,
            redis_url=redis_url,
            seed=seed,
            repository=repository,
            model=model,
            linger_ms=linger_ms,
            partitions=partitions,
        )
        if partitions < workers:
            raise ValueError(
                f"--partitions {partitions} leaves some of the {workers} workers idle; give at least --workers"
            )
        if not chosen or set(chosen) - set(PIPELINES) or len(set(chosen)) != len(chosen):
            raise ValueError(f"--pipelines takes distinct names among {', '.join(PIPELINES)}")
    except ValueError as exc:
        err.print(f"[red]error: {escape(str(exc))}")
        raise typer.Exit(2) from exc
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=err, transient=False) as progress:
            document = asyncio.run(run_bench(config, _RichProgress(progress)))
    except (RnnstreamError, OSError) as exc:
        err.print(f"[red]error: {escape(str(exc))}")
        raise typer.Exit(2) from exc
    _output(document, json_out)
    _verdict(document, err)


def _output(document: dict[str, Any], json_out: Path | None) -> None:
    from rnnstream.bench.report import render_table

    out = Console() if sys.stdout.isatty() else Console(width=160)
    render_table(document, out)
    summary = json.loads(json.dumps(document))
    for entry in summary["pipelines"].values():
        entry.pop("final_scores", None)
        entry.pop("final_labels", None)
    typer.echo(json.dumps(summary, indent=2))
    if json_out is not None:
        json_out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def _verdict(document: dict[str, Any], err: Console) -> None:
    failed = False
    for name, p in document["pipelines"].items():
        if not p["complete"]:
            failed = True
            err.print(
                f"[bold red]INCOMPLETE: {name} delivered {p['received']} of {p['expected']} predictions "
                f"({p['stop_reason']})"
            )
    a = document["agreement"]
    if not a["labels_equal"] or a["max_abs_diff"] > 1e-5:
        failed = True
        err.print(f"[bold red]DISAGREEMENT: final predictions differ across pipelines: {a}")
    if failed:
        raise typer.Exit(1)
