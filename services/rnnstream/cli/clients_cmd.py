"""``rnnstream produce audio|text`` and ``rnnstream tail``: put streams on Kafka and watch the predictions.

Heavy imports (aiokafka, librosa) happen inside the commands, so ``--help`` stays instant.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from rnnstream.clients.target import DEFAULT_AUDIO_MODEL
from rnnstream.events.models import DEFAULT_PREDICTION_TOPIC
from rnnstream.repository import DEFAULT_REPOSITORY

if TYPE_CHECKING:
    from rnnstream.cli.console import ProduceJob
    from rnnstream.clients.chunks import StreamSource
    from rnnstream.clients.target import ModelTarget
    from rnnstream.events.codec import WireFormat

err = Console(stderr=True)

produce_app = typer.Typer(
    help=(
        "Send audio or text to the streaming service as chunk events on the input topic, keyed by stream id "
        "(one stream per file, text or line), with idempotent, ordered delivery."
    ),
    no_args_is_help=True,
)

BrokerOpt = Annotated[
    str,
    typer.Option(
        "--broker", "-b", envvar="RNNSTREAM_BROKER", help="Kafka bootstrap servers, host:port[,host:port]."
    ),
]
InputTopicOpt = Annotated[
    str, typer.Option("--topic", envvar="RNNSTREAM_INPUT_TOPIC", help="Input topic the worker reads.")
]
RepoOpt = Annotated[
    Path,
    typer.Option(
        "--repository",
        "-r",
        envvar="RNNSTREAM_MODEL_REPOSITORY",
        help="Model repository used to resolve --model.",
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="One JSON line per stream on stdout: stream_id, input, chunks, steps.")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress, summary or warnings on stderr.")]


class WireFormatName(StrEnum):
    """``--format``: how input events go on the wire (docs/events.md)."""

    V1 = "v1"
    V2 = "v2"


FormatOpt = Annotated[
    WireFormatName,
    typer.Option(
        "--format",
        help="Wire format of the events: v2 (binary: a fixed header and raw float32 frames; the fastest for "
        "the worker to decode) or v1 (JSON, readable; what kcat users write by hand). The worker reads both.",
        case_sensitive=False,
    ),
]
StrictOpt = Annotated[
    bool,
    typer.Option(
        "--require-idempotence",
        help="Fail when the broker refuses an idempotent producer instead of falling back to acks=all "
        "ordered delivery (the local tansu broker refuses).",
    ),
]


def _wire_format(name: WireFormatName) -> WireFormat:
    return 1 if name is WireFormatName.V1 else 2


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


class _Warnings(logging.Handler):
    """Library warnings (``rnnstream.clients`` loggers) as ``warning: ...`` on the current stderr."""

    quiet = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.quiet:
            print(f"warning: {record.getMessage()}", file=sys.stderr)


def _show_warnings(quiet: bool) -> None:
    logger = logging.getLogger("rnnstream.clients")
    handler = next((h for h in logger.handlers if isinstance(h, _Warnings)), None)
    if handler is None:
        handler = _Warnings(logging.WARNING)
        logger.addHandler(handler)
    handler.quiet = quiet
    logger.setLevel(logging.WARNING)


def _resolve(model: str, repository: Path, task: str) -> ModelTarget:
    from rnnstream.clients.target import resolve_target
    from rnnstream.errors import RnnstreamError

    try:
        return resolve_target(model, repository).require("audio" if task == "audio" else "text")
    except RnnstreamError as exc:
        raise _fail(str(exc)) from exc


def _produce(job: ProduceJob, sources: Iterable[StreamSource], *, as_json: bool, quiet: bool) -> None:
    """Publish with progress, --json lines and a summary; exit status 1 when a stream failed."""
    from rnnstream.cli.console import print_summary, produce
    from rnnstream.errors import RnnstreamError

    _show_warnings(quiet)
    started = time.perf_counter()
    try:
        reports = produce(job, sources, err, as_json=as_json, quiet=quiet)
    except RnnstreamError as exc:
        raise _fail(str(exc)) from exc
    except KeyboardInterrupt as exc:
        raise _fail("interrupted", 130) from exc
    if not quiet:
        print_summary(job, reports, time.perf_counter() - started, Console(), err, table=not as_json)
    if any(not r.ok for r in reports):
        raise typer.Exit(1)


class PcmEncodingName(StrEnum):
    """``--pcm-encoding``: how raw samples travel (docs/events.md, "PCM audio")."""

    S16LE = "s16le"
    F32LE = "f32le"


class SegmentName(StrEnum):
    """``--segment``: who decides where utterances begin and end in a PCM stream."""

    NONE = "none"
    VAD = "vad"


@produce_app.command("audio")
def produce_audio(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="Audio files (any format soundfile/librosa reads, any rate, mono or multi-channel) or "
            "directories (every audio file in them, each its own stream, chunks interleaved)."
        ),
    ],
    model: Annotated[
        str, typer.Option("--model", "-m", help="NAME[:VERSION] in --repository, or a model folder.")
    ] = DEFAULT_AUDIO_MODEL,
    stream_id: Annotated[
        str | None,
        typer.Option("--stream-id", help="Stream id (one file only); default <file stem>-<6 random hex>."),
    ] = None,
    chunk_ms: Annotated[
        float | None,
        typer.Option(
            "--chunk-ms",
            min=1.0,
            help="Audio per chunk event, in ms (frames = ms * rate / 1000 / hop). Default 100. Frames only; "
            "with --pcm use --packet-ms.",
            show_default=False,
        ),
    ] = None,
    pcm: Annotated[
        bool,
        typer.Option(
            "--pcm",
            help="Send the raw samples instead of frames (pcm events: the file's own rate and channels); "
            "the worker runs the model's front-end (mono, resampling, log-mel) itself.",
            rich_help_panel="Raw audio (--pcm)",
        ),
    ] = False,
    packet_ms: Annotated[
        float | None,
        typer.Option(
            "--packet-ms",
            min=1.0,
            max=1000.0,
            help="With --pcm: audio per packet (one event), in ms of the file's rate (samples = ms * rate / "
            "1000, rounded). Default 20, as a microphone or VoIP stack delivers it; at most 1000.",
            show_default=False,
            rich_help_panel="Raw audio (--pcm)",
        ),
    ] = None,
    segment: Annotated[
        SegmentName | None,
        typer.Option(
            "--segment",
            help="With --pcm: 'vad' lets the worker cut the stream into utterances by voice activity, each "
            "with its own final prediction (a long recording is one continuous stream); 'none' (the default): "
            "the file is one utterance, as with frames.",
            case_sensitive=False,
            show_default=False,
            rich_help_panel="Raw audio (--pcm)",
        ),
    ] = None,
    pcm_encoding: Annotated[
        PcmEncodingName | None,
        typer.Option(
            "--pcm-encoding",
            help="With --pcm: s16le (16-bit integers, the default: exact for 16-bit files, others are rounded "
            "to 16 bits) or f32le (float32, twice the bytes).",
            case_sensitive=False,
            show_default=False,
            rich_help_panel="Raw audio (--pcm)",
        ),
    ] = None,
    realtime: Annotated[
        bool,
        typer.Option(
            "--realtime",
            help="Send each chunk (or packet) when its audio would have been recorded: the stream takes as "
            "long as its audio, as a live source would.",
        ),
    ] = False,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="Streams produced at the same time (interleaved).")
    ] = 16,
    repository: RepoOpt = DEFAULT_REPOSITORY,
    broker: BrokerOpt = "127.0.0.1:9092",
    topic: InputTopicOpt = "rnnstream.events",
    wire_format: FormatOpt = WireFormatName.V2,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    require_idempotence: StrictOpt = False,
) -> None:
    """Stream audio files as log-mel chunk events, features computed with the model's front-end while the
    audio is read; or, with --pcm, as raw PCM packets for the worker's front-end. Each file is one stream:
    seq 0, 1, 2, ..., start on the first chunk, end on the last. Prints a summary; with --json one line per
    stream ({stream_id, file, chunks, frames}; with --pcm {stream_id, file, sample_rate, channels, chunks,
    samples}) to match predictions to files. Exit status 1 when a file could not be produced (too short,
    unreadable, a rate or channel count PCM cannot carry)."""
    from rnnstream.cli.console import ProduceJob
    from rnnstream.errors import InputError

    target = _resolve(model, repository, "audio")
    cfg = target.log_mel
    if not pcm:
        given = [
            name
            for name, value in (
                ("--packet-ms", packet_ms),
                ("--segment", segment),
                ("--pcm-encoding", pcm_encoding),
            )
            if value is not None
        ]
        if given:
            raise _fail(f"{', '.join(given)} only apply to raw audio: add --pcm")
    elif chunk_ms is not None:
        raise _fail("--chunk-ms is the length of a chunk of frames; with --pcm, give --packet-ms")
    try:
        if pcm:
            from rnnstream.clients.pcm_source import DEFAULT_PACKET_MS, pcm_sources

            sources = pcm_sources(
                inputs,
                packet_ms=DEFAULT_PACKET_MS if packet_ms is None else packet_ms,
                encoding="f32le" if pcm_encoding is PcmEncodingName.F32LE else "s16le",
                segment="vad" if segment is SegmentName.VAD else "none",
                stream_id=stream_id,
            )
        else:
            from rnnstream.clients.audio_source import audio_sources, frames_per_chunk

            chunk_frames = frames_per_chunk(100.0 if chunk_ms is None else chunk_ms, cfg)
            sources = audio_sources(inputs, cfg, chunk_frames, stream_id=stream_id)
    except InputError as exc:
        raise _fail(str(exc)) from exc
    durations = [s.duration_s for s in sources]
    total_s = sum(d for d in durations if d is not None) if None not in durations else None
    job = ProduceJob(
        target,
        broker,
        topic,
        unit="samples" if pcm else "frames",
        seconds_per_step=None if pcm else cfg.hop_length / cfg.sample_rate,  # pcm chunks know their length
        total_s=total_s,
        paced=realtime,
        concurrency=concurrency,
        idempotence="require" if require_idempotence else "auto",
        wire_format=_wire_format(wire_format),
    )
    _produce(job, sources, as_json=as_json, quiet=quiet)


@produce_app.command("text")
def produce_text(
    texts: Annotated[
        list[str] | None,
        typer.Argument(help="Texts, each its own stream. Without texts or --file: lines of stdin."),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", "-f", help="Read texts from this file, one stream per non-blank line ('-': stdin)."
        ),
    ] = None,
    model: Annotated[
        str, typer.Option("--model", "-m", help="NAME[:VERSION] in --repository, or a model folder.")
    ] = "sms-spam-lstm",
    stream_id: Annotated[
        str | None,
        typer.Option(
            "--stream-id",
            help="Stream id of a single text; with several texts or lines, the prefix of <ID>-<n> "
            "(n: argument or line number). Default text-<6 random hex>.",
        ),
    ] = None,
    chunk_tokens: Annotated[int, typer.Option("--chunk-tokens", min=1, help="Tokens per chunk event.")] = 1,
    interval_ms: Annotated[
        float,
        typer.Option("--interval-ms", min=0.0, help="Pause between the chunks of a stream (typing speed)."),
    ] = 0.0,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="Streams produced at the same time (interleaved).")
    ] = 16,
    repository: RepoOpt = DEFAULT_REPOSITORY,
    broker: BrokerOpt = "127.0.0.1:9092",
    topic: InputTopicOpt = "rnnstream.events",
    wire_format: FormatOpt = WireFormatName.V2,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    require_idempotence: StrictOpt = False,
) -> None:
    """Stream text token by token (the words-v1 tokenizer every text model shares), --chunk-tokens per
    event. Texts come from arguments, a file or stdin; every text or line is its own stream, read lazily so
    a pipe can feed a long-running producer. With --json one line per stream ({stream_id, input, chunks,
    tokens}, plus file and line for lines)."""
    from rnnstream.cli.console import ProduceJob
    from rnnstream.clients.text_source import line_sources, text_sources

    target = _resolve(model, repository, "text")
    if texts and file is not None:
        raise _fail("give texts as arguments or --file, not both")
    interval_s = interval_ms / 1000
    opened = None
    sources: Iterable[StreamSource]
    if texts:
        sources = text_sources(
            texts,
            stream_id=stream_id,
            chunk_tokens=chunk_tokens,
            interval_s=interval_s,
            numbered=len(texts) > 1,
        )
    else:
        lines, name = sys.stdin, "-"
        if file is not None and str(file) != "-":
            try:
                lines = opened = file.open(encoding="utf-8")
            except OSError as exc:
                raise _fail(f"{file}: {exc.strerror or exc}") from exc
            name = str(file)
        sources = line_sources(
            lines, name=name, stream_id=stream_id, chunk_tokens=chunk_tokens, interval_s=interval_s
        )
    try:
        job = ProduceJob(
            target,
            broker,
            topic,
            unit="tokens",
            paced=interval_s > 0,
            concurrency=concurrency,
            idempotence="require" if require_idempotence else "auto",
            wire_format=_wire_format(wire_format),
        )
        _produce(job, sources, as_json=as_json, quiet=quiet)
    finally:
        if opened is not None:
            opened.close()


def tail(
    stream_id: Annotated[
        list[str] | None, typer.Option("--stream-id", help="Only this stream (repeatable).")
    ] = None,
    final_only: Annotated[
        bool,
        typer.Option(
            "--final-only",
            help="Only final predictions (in a segmented stream: one per utterance, its result).",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="The prediction events as JSON lines on stdout (for scripts).")
    ] = False,
    until_final: Annotated[
        int | None,
        typer.Option(
            "--until-final",
            min=1,
            help="Exit (status 0) after N final predictions (each utterance's final counts).",
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            min=0.0,
            help="Exit after this many seconds; status 1 when --until-final was not reached by then.",
        ),
    ] = None,
    from_beginning: Annotated[
        bool,
        typer.Option(
            "--from-beginning", help="Read the topic from its start; default: only new predictions."
        ),
    ] = False,
    rows: Annotated[int, typer.Option("--rows", min=1, help="Streams shown in the live table.")] = 20,
    broker: BrokerOpt = "127.0.0.1:9092",
    topic: Annotated[
        str,
        typer.Option(
            "--topic", envvar="RNNSTREAM_PREDICTION_TOPIC", help="Prediction topic the worker writes."
        ),
    ] = DEFAULT_PREDICTION_TOPIC,
    quiet: QuietOpt = False,
) -> None:
    """Watch predictions as they are made: a live table (stream, label, confidence, frames seen, latency) on
    a terminal, one line per prediction otherwise, or with --json the prediction events as JSON lines.
    Reads every partition without joining a consumer group, so it disturbs no worker or other tail.
    Segmented streams (produce audio --pcm --segment vad) show each prediction's utterance: its index and
    where it lies, in seconds of the stream's audio, then FINAL label (confidence) for the utterance's
    result, e.g. 'utt 3  12.34-12.71 s  FINAL 7 (0.98)', or 'partial label (confidence)' for an
    incremental prediction. The live table shows incremental ones dimmed and prints every utterance's
    final above itself, so the results stay on screen; --final-only leaves out the incremental ones."""
    from rnnstream.cli.console import tail as run_tail
    from rnnstream.clients.consumer import PredictionReader
    from rnnstream.errors import RnnstreamError

    _show_warnings(quiet)
    out = Console()
    mode = "json" if as_json else ("live" if out.is_terminal else "lines")
    reader = PredictionReader(
        broker, topic, from_beginning=from_beginning, stream_ids=stream_id, final_only=final_only
    )

    async def run() -> int:
        await reader.start()
        if not quiet:
            start = "the beginning" if from_beginning else "now on"
            err.print(
                f"reading {escape(topic)} ({reader.partitions} partitions) from {start}", highlight=False
            )
        try:
            await run_tail(reader, out, mode=mode, until_final=until_final, timeout_s=timeout, rows=rows)
        except TimeoutError:
            if until_final is None:
                return 0
            err.print(f"timed out after {timeout} s before {until_final} final predictions", highlight=False)
            return 1
        finally:
            await reader.stop()
        return 0

    try:
        code = asyncio.run(run())
    except RnnstreamError as exc:
        raise _fail(str(exc)) from exc
    except KeyboardInterrupt:
        code = 0
    raise typer.Exit(code)
