"""One bench run, start to clean-up: services, the load, each pipeline in turn, the JSON document.

Pipelines run one after the other, never together, so they do not share the CPUs with each other; each gets
its own copy of the same events (same bytes bar ``produced_at_ms``, same order) on its own topics, its own
consumer group and its own Redis key prefix, and (without ``--broker``) its own fresh private broker: tansu's
memory storage gets slower the more it holds, which would handicap every pipeline but the first.
``--pace max``: every event is produced, then the pipeline is started. ``--pace realtime``: the pipeline is
started and ready, then the events are sent at real-time pace while the predictions are collected. Everything the run started is stopped, and its Redis keys deleted by
prefix (never ``FLUSHALL``), whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import os
import platform
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rnnstream.bench.collector import Collected, PredictionCollector, ProbeSample
from rnnstream.bench.load import (
    LoadSpec,
    Source,
    Workload,
    build_workload,
    make_producer,
    produce_all,
    produce_paced,
)
from rnnstream.bench.pipelines import (
    FLOOR,
    TOPIC_CONFIG,
    FaustPipeline,
    Pipeline,
    PipelineNames,
    process_cpu_seconds,
)
from rnnstream.bench.quix import QUIX_MISSING, QuixPipeline, quix_available
from rnnstream.bench.report import PhaseOutcome, agreement, over_floor
from rnnstream.errors import ConfigurationError
from rnnstream.gc_freeze import freeze_startup_objects
from rnnstream.localservices.cleanup import create_topics, delete_keys, delete_topics_containing
from rnnstream.localservices.session import Services, services_for_run
from rnnstream.repository import DEFAULT_REPOSITORY
from rnnstream.repository.reader import ModelRepository, read_manifest

if TYPE_CHECKING:
    from rnnstream.worker.loaded_models import LoadedModels

PIPELINES = ("faust", "aiokafka", "quix", "naive", FLOOR)
#: Pipelines that load the models into the bench process (the others run in processes of their own).
IN_PROCESS = frozenset({"aiokafka", "naive"})
#: Pipelines that publish no scores (the broker's floor), so take no part in the comparison of the finals.
REFERENCE_ONLY = frozenset({FLOOR})


def default_pipelines() -> tuple[str, ...]:
    """Every pipeline, in order; ``quix`` only where the ``peer`` extra (Quix Streams) is installed."""
    return tuple(p for p in PIPELINES if p != "quix" or quix_available())


class Pace(StrEnum):
    """How fast the load generator sends."""

    REALTIME = "realtime"
    MAX = "max"


@dataclass(frozen=True)
class BenchConfig:
    """Everything ``rnnstream bench`` can be told."""

    streams: int = 50
    seconds: float = 5.0
    chunk_ms: int = 100
    pace: Pace = Pace.MAX
    source: Source = Source.SYNTHETIC
    pipelines: tuple[str, ...] = field(default_factory=default_pipelines)
    workers: int = 1
    broker: str | None = None
    redis_url: str | None = None
    seed: int = 0
    repository: Path = DEFAULT_REPOSITORY
    model: str = "fsdd-digits-lstm"
    partitions: int = 8
    #: The load generator's producer linger: 5 ms is the default of rnnstream's producers
    #: (``rnnstream.clients``), of librdkafka and of the Java client since Kafka 4.0; 0 sends at once.
    linger_ms: int = 5
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def command(self) -> str:
        """The command line that repeats this run (service addresses left out)."""
        return (
            f"rnnstream bench --streams {self.streams} --seconds {self.seconds:g} --chunk-ms {self.chunk_ms} "
            f"--pace {self.pace.value} --source {self.source.value} --pipelines {','.join(self.pipelines)} "
            f"--workers {self.workers} --linger-ms {self.linger_ms} --partitions {self.partitions} --seed {self.seed}"
        )


class ProgressSink(Protocol):
    """Where the run reports progress (the CLI draws rich bars on stderr)."""

    def task(self, description: str, total: int) -> Callable[[int], None]: ...

    def note(self, text: str) -> None: ...


class SilentProgress:
    """A :class:`ProgressSink` that shows nothing."""

    def task(self, description: str, total: int) -> Callable[[int], None]:
        return lambda n: None

    def note(self, text: str) -> None:
        return None


@contextlib.asynccontextmanager
async def _started(pipeline: Pipeline) -> AsyncIterator[Pipeline]:
    try:
        yield pipeline
    finally:
        await pipeline.stop()


def _make_pipeline(
    name: str,
    names: PipelineNames,
    config: BenchConfig,
    services: Services,
    log_dir: Path,
    models: LoadedModels | None,
) -> Pipeline:
    if name == "faust":
        return FaustPipeline(
            names,
            bootstrap=services.bootstrap,
            redis_url=services.redis_url,
            repository=config.repository,
            model=config.model,
            partitions=config.partitions,
            workers=config.workers,
            log_dir=log_dir,
        )
    if name == "quix":
        return QuixPipeline(
            names,
            bootstrap=services.bootstrap,
            repository=config.repository,
            model=config.model,
            work_dir=log_dir,
        )
    if name == FLOOR:
        from rnnstream.bench.floor import FloorPipeline

        return FloorPipeline(names, bootstrap=services.bootstrap, work_dir=log_dir)
    from rnnstream.bench.inprocess import AiokafkaPipeline
    from rnnstream.bench.naive import NaivePipeline

    assert models is not None
    cls = AiokafkaPipeline if name == "aiokafka" else NaivePipeline
    return cls(names, bootstrap=services.bootstrap, redis_url=services.redis_url, models=models)


async def _phase(
    name: str,
    config: BenchConfig,
    workload: Workload,
    services: Services,
    log_dir: Path,
    models: LoadedModels | None,
    ui: ProgressSink,
) -> PhaseOutcome:
    names = PipelineNames(config.tag, name)
    realtime = config.pace is Pace.REALTIME
    await create_topics(services.bootstrap, names.topics, config.partitions, TOPIC_CONFIG)
    pipeline = _make_pipeline(name, names, config, services, log_dir, models)

    def probe() -> ProbeSample:
        cpu = {"pipeline": pipeline.cpu_seconds()}
        cpu.update({k: process_cpu_seconds([pid]) for k, pid in services.pids.items()})
        return ProbeSample(cpu, pipeline.rss_bytes())

    n = workload.total_chunks
    collector = PredictionCollector(services.bootstrap, names.predictions, n, probe=probe)
    producer = make_producer(services.bootstrap, linger_ms=config.linger_ms)
    stream_s = workload.chunks_per_stream * config.chunk_ms / 1000.0
    timeout_s = 90.0 + (stream_s if realtime else n / 25.0)
    collecting: asyncio.Task[Collected] | None = None
    await producer.start()
    try:
        async with _started(pipeline):
            if realtime:
                await pipeline.start()
                ui.note(f"{name}: waiting until the pipeline is ready")
                await pipeline.wait_ready(timeout_s=90.0)
            else:
                sent_bar = ui.task(f"{name}: sending", n)
                sent = await produce_all(producer, names.input, workload.events, on_sent=sent_bar)
            await collector.start()
            collector.on_new = ui.task(f"{name}: predictions", n)
            if not realtime:
                await pipeline.start()
            collecting = asyncio.create_task(
                collector.run(timeout_s=timeout_s, stall_s=30.0, alive=pipeline.alive)
            )
            if realtime:
                sent_bar = ui.task(f"{name}: sending", n)
                sent = await produce_paced(
                    producer,
                    names.input,
                    workload.events,
                    streams=len(workload.stream_ids),
                    chunk_ms=config.chunk_ms,
                    on_sent=sent_bar,
                )
            collected = await collecting
            batches = await pipeline.batch_stats()
    finally:
        if collecting is not None and not collecting.done():
            collecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await collecting
        await collector.stop()
        await producer.stop()
        await delete_keys(services.redis_url, names.redis_prefix)
        if config.broker is not None:  # with Quix's changelog topic, which names the pipeline's group
            await delete_topics_containing(services.bootstrap, names.base)
    offered = len(workload.stream_ids) * 1000.0 / config.chunk_ms if realtime else None
    processes = config.workers if name == "faust" else 1
    return PhaseOutcome(name, collected, sent, batches, offered, processes, in_process=name in IN_PROCESS)


def _machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for dist in (
        "rnnstream",
        "onnxruntime",
        "faust-streaming",
        "aiokafka",
        "redis",
        "quixstreams",
        "confluent-kafka",
    ):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[dist] = importlib.metadata.version(dist)
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
    }


async def run_bench(config: BenchConfig, ui: ProgressSink | None = None) -> dict[str, Any]:
    """Run every pipeline of ``config`` on the same load; returns the JSON document (see ``report``)."""
    ui = ui or SilentProgress()
    unknown = sorted(set(config.pipelines) - set(PIPELINES))
    if unknown:
        raise ValueError(f"unknown pipeline(s) {', '.join(unknown)}; choose from {', '.join(PIPELINES)}")
    if "quix" in config.pipelines and not quix_available():
        raise ConfigurationError(QUIX_MISSING)
    ref = ModelRepository(config.repository).resolve(config.model)
    manifest = read_manifest(ref.path)
    spec = LoadSpec(config.streams, config.seconds, config.chunk_ms, config.source, config.seed, config.tag)
    ui.note(f"generating {config.streams} {config.source.value} streams of {config.seconds:g} s")
    workload = build_workload(spec, manifest)
    models = None
    if IN_PROCESS & set(config.pipelines):
        from rnnstream.worker.loaded_models import LoadedModels

        models = LoadedModels.load(config.repository, [(config.model, None)])
    # The workload (one object per event) and the loaded models live until the end: out of the collector's
    # reach with them, so that a full collection in this process (which runs the prediction consumer, and the
    # in-process pipelines) is not a pause of tens of milliseconds counted as latency.
    freeze_startup_objects()
    work_dir = Path(tempfile.mkdtemp(prefix="rnnstream-bench-"))
    phases: list[PhaseOutcome] = []
    keep = False
    try:
        for name in config.pipelines:
            # a private broker per pipeline: tansu's memory storage costs more CPU per request the more it
            # holds, so a pipeline run after the others on one broker would be measured on a slower one
            phase_dir = work_dir / name
            phase_dir.mkdir()
            with services_for_run(config.broker, config.redis_url, phase_dir, ui.note) as services:
                ui.note(f"running the {name} pipeline")
                try:
                    phases.append(await _phase(name, config, workload, services, phase_dir, models, ui))
                except BaseException:
                    keep = True
                    ui.note(f"logs kept in {work_dir}")
                    raise
    finally:
        if not keep:
            shutil.rmtree(work_dir, ignore_errors=True)
    realtime = config.pace is Pace.REALTIME
    entries = {p.name: p.to_json(workload, realtime=realtime, with_finals=True) for p in phases}
    return {
        "command": config.command(),
        "config": {
            **asdict(config),
            "repository": str(config.repository),
            "pipelines": list(config.pipelines),
        },
        "machine": _machine(),
        "workload": {
            "model": workload.model,
            "streams": len(workload.stream_ids),
            "chunks_per_stream": workload.chunks_per_stream,
            "frames_per_chunk": workload.frames_per_chunk,
            "total_chunks": workload.total_chunks,
            "total_frames": workload.total_frames,
        },
        "pipelines": entries,
        "over_floor_ms": over_floor(entries),
        "agreement": agreement([p for p in phases if p.name not in REFERENCE_ONLY]),
        "complete": all(p.collected.complete for p in phases),
    }
