"""``rnnstream demo``: the whole service on one machine, from nothing to a summary, leaving nothing running.

It starts a private broker (tansu) and uses the Redis on 6379 (or starts a private one), starts a worker with
the committed models, streams the bundled FSDD recordings (real-time pace, 100 ms chunks) and SMS messages
(token by token) into Kafka, shows the predictions live, checks every final prediction against the offline
whole-sequence pass, prints a summary, and stops everything it started. ``--continuous`` streams the bundled
continuous recording as raw audio instead, for the worker to cut into utterances (``demo_continuous``).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from rnnstream.clients.target import DEFAULT_AUDIO_MODEL, DEFAULT_TEXT_MODEL
from rnnstream.localservices.cleanup import delete_keys
from rnnstream.localservices.worker import Namespace, WorkerProcess
from rnnstream.repository import DEFAULT_REPOSITORY

FINAL_TIMEOUT_S = 90.0


@dataclass
class _Row:
    truth: str
    model: str
    label: str = "…"
    score: float = 0.0
    steps: int = 0
    chunks: int = 0
    final: bool = False
    latency_ms: list[float] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)


@contextlib.contextmanager
def local_services(console: Console) -> Iterator[tuple[str, str]]:
    """A private broker on a free port and a Redis (the running one, or a private one); stopped afterwards."""
    from rnnstream.localservices.session import services_for_run

    state = Path(tempfile.mkdtemp(prefix="rnnstream-demo-"))
    try:
        with services_for_run(None, None, state) as services:
            console.print(
                f"[dim]broker {services.bootstrap} (tansu, private)  ·  Redis {services.redis_url}[/dim]"
            )
            yield services.bootstrap, services.redis_url
    finally:
        shutil.rmtree(state, ignore_errors=True)


@dataclass
class DemoWorker:
    """One demo worker on the private services; ``exit_code`` and ``log_tail`` are set once it stopped."""

    bootstrap: str
    ns: Namespace
    worker: WorkerProcess
    exit_code: int | None = None
    log_tail: str = ""


@contextlib.contextmanager
def demo_worker(console: Console, repository: Path) -> Iterator[DemoWorker]:
    """The private services and one worker serving ``repository``, ready; stopped (and its Redis keys
    deleted) afterwards."""
    with local_services(console) as (bootstrap, redis_url), tempfile.TemporaryDirectory() as logs:
        ns = Namespace(prefix="rnnstream-demo")
        run = DemoWorker(
            bootstrap, ns, WorkerProcess(ns.env(bootstrap, redis_url, repository), Path(logs) / "worker.log")
        )
        try:
            ready = run.worker.wait_ready(60)
            console.print(
                f"worker ready in {ready:.1f} s (models loaded, group joined, Redis and broker reachable)"
            )
            yield run
        finally:
            run.exit_code = run.worker.stop()
            run.log_tail = run.worker.log_tail(20)
            asyncio.run(delete_keys(redis_url, ns.key_prefix))


def _table(rows: dict[str, _Row]) -> Table:
    table = Table(
        "stream",
        "truth",
        "prediction",
        "confidence",
        "steps",
        "chunks",
        "latency",
        "",
        title="live predictions",
    )
    for sid, r in rows.items():
        done = (
            "[green]final ✓[/green]"
            if r.final and r.label == r.truth
            else ("[red]final ✗[/red]" if r.final else "")
        )
        lat = f"{r.latency_ms[-1]:.0f} ms" if r.latency_ms else ""
        table.add_row(sid[:34], r.truth, r.label, f"{r.score:.3f}", str(r.steps), str(r.chunks), lat, done)
    return table


async def _run(
    bootstrap: str, ns: Namespace, repository: Path, console: Console, chunk_ms: int
) -> dict[str, _Row]:
    from rnnstream.clients.audio_source import audio_sources, frames_per_chunk
    from rnnstream.clients.chunks import new_stream_id
    from rnnstream.clients.consumer import PredictionReader
    from rnnstream.clients.producer import EventProducer
    from rnnstream.clients.publishing import publish_streams
    from rnnstream.clients.target import resolve_target
    from rnnstream.clients.text_source import text_sources
    from rnnstream.samples import sample_messages, sample_recordings

    audio = resolve_target(DEFAULT_AUDIO_MODEL, repository)
    text = resolve_target(DEFAULT_TEXT_MODEL, repository)
    recordings = sample_recordings()
    a_sources = audio_sources(
        [p for p, _ in recordings], audio.log_mel, frames_per_chunk(chunk_ms, audio.log_mel)
    )
    messages = sample_messages()
    t_sources = list(
        text_sources([m for m, _ in messages], stream_id=new_stream_id("sms"), interval_s=0.08, numbered=True)
    )
    rows = {s.stream_id: _Row(truth, audio.name) for s, (_, truth) in zip(a_sources, recordings, strict=True)}
    rows |= {s.stream_id: _Row(truth, text.name) for s, (_, truth) in zip(t_sources, messages, strict=True)}

    reader = PredictionReader(
        bootstrap, ns.predictions, from_beginning=True, stream_ids=rows.keys(), fetch_max_wait_ms=10
    )
    await reader.start()
    seen: set[tuple[str, int]] = set()

    async def read(live: Live) -> None:
        async for received in reader:
            p = received.event
            if (p.stream_id, p.seq) in seen:
                continue  # a re-delivered duplicate
            seen.add((p.stream_id, p.seq))
            r = rows[p.stream_id]
            r.label, r.score, r.steps, r.final = p.label, p.scores[p.label], p.steps_seen, p.final
            r.chunks += 1
            r.scores = dict(p.scores)
            r.latency_ms.append(max(0.0, received.received_at_ms - p.produced_at_ms))
            live.update(_table(rows))
            if all(r.final for r in rows.values()):
                return

    try:
        with Live(_table(rows), console=console, refresh_per_second=8) as live:
            reading = asyncio.create_task(read(live))
            async with EventProducer(bootstrap, ns.input) as producer:
                await asyncio.gather(
                    publish_streams(producer, audio, a_sources, paced=True, max_active=len(a_sources)),
                    publish_streams(producer, text, t_sources, paced=True, max_active=len(t_sources)),
                )
            await asyncio.wait_for(reading, FINAL_TIMEOUT_S)
    finally:
        await reader.stop()
    return rows


def demo(
    repository: Annotated[
        Path, typer.Option("--repository", "-r", help="Model repository.")
    ] = DEFAULT_REPOSITORY,
    chunk_ms: Annotated[int, typer.Option(min=10, help="Audio chunk length in milliseconds.")] = 100,
    continuous: Annotated[
        bool,
        typer.Option(
            "--continuous",
            help="Stream instead the bundled continuous recording (the 10 digits in one 18 s stream, with "
            "silences and noise) as raw PCM, 20 ms packets, segment vad, at real-time pace: the worker cuts it "
            "into utterances; prints each utterance's final with the true word, then the accuracy and the "
            "boundaries within 100 ms.",
        ),
    ] = False,
) -> None:
    """Run the whole service locally on the bundled samples: a private Kafka-protocol broker, Redis, one worker
    with the committed models; stream 10 spoken digits (real-time pace, 100 ms chunks) and 8 SMS messages
    (token by token), show the predictions live, check each final prediction against the offline
    whole-sequence pass, print a summary, and stop everything it started. With --continuous: one continuous
    recording as raw audio, cut into utterances by the worker."""
    if continuous:
        from rnnstream.cli.demo_continuous import demo_continuous

        demo_continuous(repository)
        return
    import numpy as np

    from rnnstream.features.audio import file_features
    from rnnstream.features.text import tokenize
    from rnnstream.repository.reader import ModelRepository
    from rnnstream.runtime.predict import predict_sequence
    from rnnstream.runtime.session import OnnxModel
    from rnnstream.samples import sample_messages, sample_recordings

    console = Console()
    repository = repository.resolve()
    started = time.monotonic()
    with demo_worker(console, repository) as run:
        rows = asyncio.run(_run(run.bootstrap, run.ns, repository, console, chunk_ms))
        _, metrics = run.worker.get("/metrics")
    code = run.exit_code
    if code != 0:
        console.print(f"[red]worker exited with {code}[/red]")
    # Streaming equals offline: the final scores against one whole-sequence pass of the same model.
    # The versions the producers named (the latest in the repository), which the worker serves too.
    repo = ModelRepository(repository)
    audio = OnnxModel(repo.resolve(DEFAULT_AUDIO_MODEL).path)
    text = OnnxModel(repo.resolve(DEFAULT_TEXT_MODEL).path)
    cfg = audio.manifest.features
    assert cfg is not None
    offline = [predict_sequence(audio, file_features(p, cfg), 0) for p, _ in sample_recordings()]
    offline += [predict_sequence(text, text.encode(tokenize(m)), 0) for m, _ in sample_messages()]
    worst = max(
        max(abs(r.scores.get(k, 1.0) - v) for k, v in o.scores.items())
        for r, o in zip(rows.values(), offline, strict=True)
    )
    correct = sum(r.label == r.truth for r in rows.values())
    latencies = np.array([x for r in rows.values() for x in r.latency_ms])
    predictions = int(sum(r.chunks for r in rows.values()))
    console.print(
        f"\n[bold]{len(rows)} streams[/bold] ({sum(r.model == DEFAULT_AUDIO_MODEL for r in rows.values())} audio, "
        f"{sum(r.model == DEFAULT_TEXT_MODEL for r in rows.values())} text), {predictions} incremental predictions; "
        f"accuracy {correct}/{len(rows)} against the known labels; produce→prediction latency p50 "
        f"{np.percentile(latencies, 50):.0f} ms, p95 {np.percentile(latencies, 95):.0f} ms; streamed finals vs "
        f"offline whole-sequence pass: max |Δscore| {worst:.1e} (tolerance 1e-5)."
    )
    batch_line = next(
        (ln for ln in metrics.splitlines() if ln.startswith("rnnstream_batch_events_count")), ""
    )
    console.print(
        f"[dim]{batch_line}; done in {time.monotonic() - started:.1f} s, nothing left running.[/dim]"
    )
    if code != 0 or worst > 1e-5:
        raise typer.Exit(1)
