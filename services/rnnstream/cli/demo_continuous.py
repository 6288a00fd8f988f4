"""``rnnstream demo --continuous``: one long recording as raw audio, cut into utterances by the worker.

The bundled continuous recording (``samples/continuous/digits-8k.wav``: the ten bundled digits, with silences
and noise between them; its truth in ``digits-8k.json``) goes to a local worker as raw PCM in 20 ms packets
marked ``segment: vad``, at the pace it was recorded, as a microphone would send it. The worker runs the
model's front-end, finds the utterances by voice activity and answers each with a final prediction. Every
final is printed as it arrives, with the word it covers according to the truth; then the accuracy and the
share of boundaries within 100 ms (``rnnstream.features.continuous.score_endpointing``), and a note for
each word that got no final of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape

from rnnstream.localservices.worker import Namespace

if TYPE_CHECKING:
    from rnnstream.events.models import PredictionEvent
    from rnnstream.features.continuous import DetectedUtterance, Word

PACKET_MS = 20.0
#: After the last packet, how long to wait for predictions that may still come (none come for silence).
SETTLE_S = 3.0
#: The longest wait beyond the recording's own length.
EXTRA_TIMEOUT_S = 90.0


@dataclass
class _Outcome:
    finals: dict[int, PredictionEvent] = field(default_factory=dict)  # utterance index → its final
    predictions: int = 0
    latencies_ms: list[float] = field(default_factory=list)  # of the finals: produced → received
    packets: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    first_dead_letter: str = ""


def _overlapping(words: list[Word], start_s: float, end_s: float) -> list[int]:
    """Indices of the words an utterance overlaps (``score_endpointing``'s rule)."""
    return [i for i, w in enumerate(words) if start_s < w.end_s and end_s > w.start_s]


def _final_line(event: PredictionEvent, words: list[Word]) -> str:
    from rnnstream.cli.console import utterance_span, utterance_verdict

    assert event.utterance is not None
    u = event.utterance
    covered = _overlapping(words, u.start_ms / 1000, u.end_ms / 1000)
    if len(covered) == 1:
        truth = words[covered[0]].label
        mark = "[green]✓[/green]" if truth == event.label else "[red]✗[/red]"
        said = f"truth {escape(truth)} {mark}"
    elif covered:
        said = (
            "[yellow]truth " + "+".join(escape(words[i].label) for i in covered) + " (several words)[/yellow]"
        )
    else:
        said = "[yellow]no word here (noise or a false start)[/yellow]"
    return f"{utterance_span(event)}  [bold]{escape(utterance_verdict(event))}[/bold]  {said}"


async def _stream(
    bootstrap: str, ns: Namespace, repository: Path, path: Path, words: list[Word], console: Console
) -> _Outcome:
    from rnnstream.clients.chunks import new_stream_id
    from rnnstream.clients.consumer import PredictionReader, RecordReader
    from rnnstream.clients.pcm_source import pcm_sources
    from rnnstream.clients.producer import EventProducer
    from rnnstream.clients.publishing import publish_streams
    from rnnstream.clients.target import DEFAULT_AUDIO_MODEL, resolve_target
    from rnnstream.errors import EventError, InputError
    from rnnstream.events.codec import decode_dead_letter

    audio = resolve_target(DEFAULT_AUDIO_MODEL, repository)
    sid = new_stream_id("continuous")
    sources = pcm_sources([path], packet_ms=PACKET_MS, segment="vad", stream_id=sid)
    outcome = _Outcome()
    loop = asyncio.get_running_loop()
    last_activity = loop.time()
    last_seq: int | None = None
    max_seq = -1
    end_seen = asyncio.Event()
    seen: set[tuple[int, int]] = set()

    reader = PredictionReader(
        bootstrap, ns.predictions, from_beginning=True, stream_ids=[sid], fetch_max_wait_ms=10
    )
    letters = RecordReader(bootstrap, ns.dead_letters, from_beginning=True)
    await reader.start()
    try:
        await letters.start()
    except BaseException:
        await reader.stop()
        raise

    async def read_predictions() -> None:
        nonlocal last_activity, max_seq
        async for received in reader:
            p = received.event
            key = (p.seq, p.utterance.index if p.utterance is not None else -1)
            if key in seen:
                continue  # a re-delivered duplicate
            seen.add(key)
            last_activity = loop.time()
            outcome.predictions += 1
            if p.final and p.utterance is not None and p.utterance.index not in outcome.finals:
                outcome.finals[p.utterance.index] = p
                outcome.latencies_ms.append(max(0.0, received.received_at_ms - p.produced_at_ms))
                console.print(_final_line(p, words), highlight=False, soft_wrap=True)
            elif p.final and p.utterance is None:
                console.print(
                    f"[yellow]a final prediction without an utterance: {escape(p.label)} (the stream was not "
                    "segmented)[/yellow]",
                    highlight=False,
                    soft_wrap=True,
                )
            max_seq = max(max_seq, p.seq)
            if last_seq is not None and max_seq >= last_seq:
                end_seen.set()

    async def read_dead_letters() -> None:
        nonlocal last_activity
        async for record in letters:
            try:
                letter = decode_dead_letter(record.value)
            except EventError:
                continue
            if letter.stream_id != sid:
                continue
            last_activity = loop.time()
            outcome.dead_letters[letter.reason.value] += 1
            outcome.first_dead_letter = outcome.first_dead_letter or letter.detail

    tasks = [asyncio.create_task(read_predictions()), asyncio.create_task(read_dead_letters())]
    try:
        async with EventProducer(bootstrap, ns.input) as producer:
            (report,) = await publish_streams(producer, audio, sources, paced=True)
        if report.error is not None:
            raise InputError(report.error)
        outcome.packets = report.chunks
        last_seq = report.chunks - 1
        if max_seq >= last_seq:
            end_seen.set()
        last_activity = max(last_activity, loop.time())
        deadline = loop.time() + EXTRA_TIMEOUT_S
        # the end packet gets a prediction only when it closes an utterance; otherwise wait for quiet
        while not end_seen.is_set() and loop.time() < deadline:
            if loop.time() - last_activity >= SETTLE_S:
                break
            if any(t.done() for t in tasks):
                break  # a reader failed: its exception is raised below
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(end_seen.wait(), 0.2)
        await asyncio.sleep(0.3)  # a dead letter of the last packet, if any, comes right after
    finally:
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await reader.stop()
        await letters.stop()
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            raise result
    return outcome


def _utterances(outcome: _Outcome) -> list[DetectedUtterance]:
    from rnnstream.features.continuous import DetectedUtterance

    found = []
    for index, p in sorted(outcome.finals.items()):
        assert p.utterance is not None
        found.append(
            DetectedUtterance(index, p.utterance.start_ms / 1000, p.utterance.end_ms / 1000, p.label)
        )
    return found


def _notes(words: list[Word], utterances: list[DetectedUtterance]) -> list[str]:
    """What went wrong, word by word: no final, split over several utterances, merged with a neighbour."""
    notes = []
    for w in words:
        over = [u for u in utterances if u.start_s < w.end_s and u.end_s > w.start_s]
        where = f"word {w.label} ({w.source}, {w.start_s:.2f}-{w.end_s:.2f} s)"
        if not over:
            notes.append(f"{where} got no final prediction: no utterance was found over it")
        elif len(over) > 1:
            notes.append(
                f"{where} was cut into {len(over)} utterances ({', '.join(str(u.index) for u in over)})"
            )
        else:
            shared = _overlapping(words, over[0].start_s, over[0].end_s)
            if len(shared) > 1:
                others = ", ".join(words[i].label for i in shared if words[i] is not w)
                notes.append(
                    f"{where} shares utterance {over[0].index} with word {others}: no final of its own"
                )
    return notes


def demo_continuous(repository: Path) -> None:
    """The body of ``rnnstream demo --continuous`` (see the module docstring)."""
    import numpy as np

    from rnnstream.cli.demo_cmd import demo_worker
    from rnnstream.features.continuous import Word, score_endpointing
    from rnnstream.samples import sample_continuous

    console = Console()
    repository = repository.resolve()
    started = time.monotonic()
    path, truth = sample_continuous()
    words = [Word(w["label"], float(w["start_s"]), float(w["end_s"]), w["source"]) for w in truth["words"]]
    with demo_worker(console, repository) as run:
        console.print(
            f"streaming {path.name}: {truth['duration_s']:.1f} s, {len(words)} spoken digits with silences "
            f"and noise ({truth['snr_db']:g} dB SNR), as raw PCM in {PACKET_MS:.0f} ms packets, segment "
            "vad, at real-time pace; the worker finds the utterances\n",
            highlight=False,
            soft_wrap=True,
        )
        outcome = asyncio.run(_stream(run.bootstrap, run.ns, repository, path, words, console))
    code, log_tail = run.exit_code, run.log_tail
    utterances = _utterances(outcome)
    score = score_endpointing(words, utterances)
    console.print(
        f"\n[bold]{len(utterances)} utterances[/bold] found for {len(words)} words ({outcome.packets} packets, "
        f"{outcome.predictions} predictions); accuracy {score.correct}/{score.words} (words with exactly one "
        f"utterance over them, labelled right); boundaries within ±{score.tolerance_s * 1000:.0f} ms: "
        f"{score.boundaries_ok}/{score.words}"
        + (
            f"; final latency p50 {np.percentile(outcome.latencies_ms, 50):.0f} ms after the packet that ended it"
            if outcome.latencies_ms
            else ""
        ),
        highlight=False,
        soft_wrap=True,
    )
    for note in _notes(words, utterances):
        console.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False, soft_wrap=True)
    if outcome.dead_letters:
        reasons = ", ".join(f"{reason} {n}" for reason, n in outcome.dead_letters.most_common())
        console.print(
            f"[red]the worker dead-lettered {sum(outcome.dead_letters.values())} packets ({reasons}); first: "
            f"{escape(outcome.first_dead_letter)}[/red]",
            highlight=False,
            soft_wrap=True,
        )
    if code != 0:
        console.print(f"[red]worker exited with {code}[/red]\n{escape(log_tail)}")
    console.print(f"[dim]done in {time.monotonic() - started:.1f} s, nothing left running.[/dim]")
    if code != 0 or not utterances:
        raise typer.Exit(1)
