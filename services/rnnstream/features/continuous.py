"""Continuous recordings made of isolated words, with the truth: where each word's speech lies.

The endpointing figures (``rnnstream eval --continuous``), the bundled continuous demo recording and the
tests build their streams here: recordings of one voice, each followed by a silence of random length, with
white noise over everything at a given SNR. A word's true boundaries are those of its speech inside its
recording: ``librosa.effects.trim`` of the clean recording at ``top_db`` (30 dB below its loudest frame),
shifted to where the recording sits in the stream.

SNR is the ratio of the mean power of the recordings (as recorded, including their own short lead-in and
tail) to the noise power: one noise level for the whole stream, as in one call or one room.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import librosa
import numpy as np
import soundfile as sf
from numpy.typing import NDArray

from rnnstream.datasets import AudioExample, Split, fsdd_split
from rnnstream.errors import InputError

if TYPE_CHECKING:
    from rnnstream.runtime.pcm import EndpointSettings

#: How far below its loudest frame a word's speech is taken to end (``librosa.effects.trim``).
TRUTH_TOP_DB = 30.0


@dataclass(frozen=True)
class Word:
    """One word of a continuous recording: its label and its speech, in seconds from the stream's start."""

    label: str
    start_s: float
    end_s: float
    source: str


@dataclass(frozen=True)
class ContinuousRecording:
    samples: NDArray[np.float64]  # mono
    sample_rate: int
    words: list[Word]

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


def speech_bounds(samples: NDArray[np.float64], top_db: float = TRUTH_TOP_DB) -> tuple[int, int]:
    """``(start, end)`` sample indices of the speech in an isolated-word recording."""
    _, (start, end) = librosa.effects.trim(samples, top_db=top_db, frame_length=256, hop_length=64)
    return int(start), int(end)


def build_continuous(
    recordings: Sequence[tuple[str, Path]],
    *,
    seed: int = 0,
    gap_s: tuple[float, float] = (0.3, 2.0),
    snr_db: float | None = 20.0,
    sample_rate: int = 8000,
) -> ContinuousRecording:
    """``recordings`` (label, path; mono at ``sample_rate``) in the given order, each after a silence drawn
    uniformly from ``gap_s`` (one more at the end), with white noise at ``snr_db`` (``None``: no noise)."""
    rng = np.random.default_rng(seed)
    parts: list[NDArray[np.float64]] = []
    words: list[Word] = []
    powers: list[float] = []
    pos = 0

    def silence() -> None:
        nonlocal pos
        n = round(rng.uniform(*gap_s) * sample_rate)
        parts.append(np.zeros(n))
        pos += n

    silence()
    for label, path in recordings:
        y, rate = sf.read(str(path), dtype="float64", always_2d=True)
        if rate != sample_rate:
            raise InputError(f"{path}: {rate} Hz, expected {sample_rate} Hz")
        mono = y.mean(axis=1)
        start, end = speech_bounds(mono)
        words.append(Word(label, (pos + start) / sample_rate, (pos + end) / sample_rate, Path(path).name))
        powers.append(float(np.mean(mono**2)))
        parts.append(mono)
        pos += len(mono)
        silence()
    samples = np.concatenate(parts)
    if snr_db is not None and powers:
        noise_rms = np.sqrt(np.mean(powers)) / 10 ** (snr_db / 20)
        samples = samples + rng.standard_normal(len(samples)) * noise_rms
    return ContinuousRecording(np.clip(samples, -1.0, 1.0), sample_rate, words)


@dataclass(frozen=True)
class DetectedUtterance:
    """An utterance the worker (or the offline pass) cut: boundaries in seconds and its final label."""

    index: int
    start_s: float
    end_s: float
    label: str


@dataclass(frozen=True)
class EndpointScore:
    words: int
    utterances: int
    matched: int  # words with exactly one utterance overlapping them
    boundaries_ok: int  # matched words whose start and end are both within tolerance
    correct: int  # matched words whose utterance's final label is the word's
    tolerance_s: float

    @property
    def boundary_rate(self) -> float:
        return self.boundaries_ok / self.words if self.words else 0.0

    @property
    def accuracy(self) -> float:
        return self.correct / self.words if self.words else 0.0

    def __add__(self, other: EndpointScore) -> EndpointScore:
        """The score of two streams together (same tolerance)."""
        if other.tolerance_s != self.tolerance_s:
            raise ValueError("scores with different tolerances do not add up")
        return EndpointScore(
            self.words + other.words,
            self.utterances + other.utterances,
            self.matched + other.matched,
            self.boundaries_ok + other.boundaries_ok,
            self.correct + other.correct,
            self.tolerance_s,
        )

    def figures(self) -> dict[str, float | int]:
        """The counts (``finals``: the utterances cut) and the two rates, for reports."""
        return {
            "words": self.words,
            "finals": self.utterances,
            "matched": self.matched,
            "boundaries_ok": self.boundaries_ok,
            "correct": self.correct,
            "boundary_rate": self.boundary_rate,
            "accuracy": self.accuracy,
        }


def score_endpointing(
    words: Sequence[Word], utterances: Sequence[DetectedUtterance], *, tolerance_s: float = 0.1
) -> EndpointScore:
    """Match each word to the utterances that overlap it. A word counts as found only when exactly one
    utterance overlaps it and that utterance overlaps no other word; its boundaries are right when both lie
    within ``tolerance_s`` of the truth; it is recognised when that utterance's final label is the word's."""
    overlaps = [[u for u in utterances if u.start_s < w.end_s and u.end_s > w.start_s] for w in words]
    claimed: dict[int, int] = {}
    for found in overlaps:
        for u in found:
            claimed[u.index] = claimed.get(u.index, 0) + 1
    matched = boundaries = correct = 0
    for w, found in zip(words, overlaps, strict=True):
        if len(found) != 1 or claimed[found[0].index] != 1:
            continue
        u = found[0]
        matched += 1
        boundaries += abs(u.start_s - w.start_s) <= tolerance_s and abs(u.end_s - w.end_s) <= tolerance_s
        correct += u.label == w.label
    return EndpointScore(len(words), len(utterances), matched, boundaries, correct, tolerance_s)


def speaker_streams(
    examples: Sequence[AudioExample],
    rng: np.random.Generator,
    *,
    snr_db: float | None = 20.0,
    words_per_speaker: int | None = None,
) -> Iterator[tuple[str, ContinuousRecording]]:
    """One continuous recording per speaker of ``examples`` (sorted by name): their words in an order drawn
    from ``rng`` (at most ``words_per_speaker``), pauses and noise from a seed drawn from it too."""
    for speaker in sorted({e.speaker for e in examples}):
        mine = [e for e in examples if e.speaker == speaker]
        order = rng.permutation(len(mine))[:words_per_speaker]
        words = [(mine[i].label, mine[i].path) for i in order]
        yield speaker, build_continuous(words, seed=int(rng.integers(2**31)), snr_db=snr_db)


def utterances_of(predictions: Sequence[object], labels: Sequence[str]) -> list[DetectedUtterance]:
    """The finals among ``StreamedPrediction``-like predictions (``final``, ``utterance``, ``scores``), as
    detected utterances."""
    out = []
    for p in predictions:
        if getattr(p, "final", False) and getattr(p, "utterance", None) is not None:
            index, start_ms, end_ms = p.utterance  # type: ignore[attr-defined]
            label = labels[int(np.argmax(p.scores))]  # type: ignore[attr-defined]
            out.append(DetectedUtterance(index, start_ms / 1000, end_ms / 1000, label))
    return out


def continuous_report(
    model_folder: Path,
    data: Path,
    *,
    seed: int = 0,
    snr_db: float | None = 20.0,
    packet_ms: int = 20,
    tolerance_s: float = 0.1,
    progress: bool = False,
    endpointing: EndpointSettings | None = None,
    split: Split = "test",
    words_per_speaker: int | None = None,
) -> dict[str, object]:
    """The endpointing figures on an FSDD split (official; ``test`` by default): one continuous stream per
    speaker (:func:`speaker_streams`: their digits of that split in random order, at most
    ``words_per_speaker``, 0.3-2 s of silence between, white noise at ``snr_db``), streamed as PCM packets of
    ``packet_ms`` through the worker's own step with ``segment: vad``. Per speaker and overall: finals, words
    found, boundaries within ``tolerance_s``, per-utterance accuracy; beside them the model's accuracy on the
    same recordings one at a time (on the test split, the official test accuracy)."""
    from rnnstream.runtime.pcm import PcmFrontEnd, packets_of, stream_pcm
    from rnnstream.runtime.scoring import score_items
    from rnnstream.runtime.session import OnnxModel

    model = OnnxModel(model_folder)
    cfg = model.manifest.features
    if cfg is None:
        raise InputError(f"{model.name} is not an audio model")
    frontend = PcmFrontEnd(cfg, endpointing)
    examples = fsdd_split(data, split)
    truth, predicted, _ = score_items(model, [(e.path, e.label) for e in examples], progress=False)
    isolated = float(np.mean(np.asarray(truth) == np.asarray(predicted)))
    rows: dict[str, dict[str, object]] = {}
    total = EndpointScore(0, 0, 0, 0, 0, tolerance_s)
    packet = cfg.sample_rate * packet_ms // 1000
    streams = speaker_streams(
        examples, np.random.default_rng(seed), snr_db=snr_db, words_per_speaker=words_per_speaker
    )
    for speaker, rec in streams:
        packets = packets_of(rec.samples, rec.sample_rate, itertools.repeat(packet), segment=True)
        streamed = stream_pcm(model, packets, frontend, stream_id=f"continuous-{speaker}")
        score = score_endpointing(
            rec.words, utterances_of(streamed.predictions, model.labels), tolerance_s=tolerance_s
        )
        rows[speaker] = {**score.figures(), "duration_s": rec.duration_s}
        total += score
        if progress:
            print(f"  {speaker}: {score.utterances} finals for {score.words} words", flush=True)
    return {
        "model": model.name,
        "version": model.version,
        "seed": seed,
        "snr_db": snr_db,
        "packet_ms": packet_ms,
        "tolerance_s": tolerance_s,
        "speakers": rows,
        **total.figures(),
        "isolated_accuracy": isolated,
    }
