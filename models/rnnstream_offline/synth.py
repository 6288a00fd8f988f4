"""Synthetic spoken digits for training: many more voices than FSDD's six, from the espeak-ng synthesiser.

FSDD has six speakers, so a model trained on five of them meets a sixth voice it has never heard (the
leave-one-speaker-out figures in docs/models.md). espeak-ng (a formant synthesiser, Debian package
``espeak-ng``) speaks each digit word with many accents, voice variants, pitches and speaking rates: robotic,
but varied in exactly what differs between people (pitch, formants, timing). ``synthesise_digits`` writes
them as FSDD-named recordings, ``{digit}_{voice}_{index}.wav``, which ``rnnstream train --extra-audio DIR``
adds to the training set (never to a test set). The folder also gets ``SYNTHESISER_FILE``, the version of
espeak-ng that spoke them, which training copies into the model's card (:func:`recorded_synthesiser`).

Which voices: every accent of ``ACCENTS`` x every variant of ``VARIANTS`` x every pitch of ``PITCHES``, each
saying the ten digits at a speaking rate drawn (seeded) from ``RATES_WPM``. espeak-ng's output (22,050 Hz)
is resampled to FSDD's 8 kHz and trimmed like FSDD's recordings: the silence espeak-ng puts around a word
(about 0.3 s in all) is cut to ``MARGIN_S`` either side of the part within ``TRIM_DB`` of the loudest.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
from tqdm import tqdm

from rnnstream.datasets import FSDD_LABELS, AudioExample

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")  # FSDD_LABELS spoken
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")
PITCHES = (35, 65)  # espeak-ng -p, 0-99 (50 is the voice's own)
RATES_WPM = (130, 190)  # espeak-ng -s is drawn uniformly from [low, high)
SAMPLE_RATE = 8000  # FSDD's
TRIM_DB = 35.0
MARGIN_S = 0.03
#: The file in a folder of synthetic recordings naming the synthesiser that made them (one line).
SYNTHESISER_FILE = "synthesiser.txt"


class SynthesiserMissing(RuntimeError):
    """espeak-ng is not installed."""


@dataclass(frozen=True)
class SynthReport:
    out_dir: Path
    files: int
    voices: int
    version: str


def espeak_version(binary: str = "espeak-ng") -> str:
    """The first line espeak-ng prints of its version; raises ``SynthesiserMissing`` without it."""
    path = shutil.which(binary)
    if path is None:
        raise SynthesiserMissing(
            f"{binary} is not installed (Debian: apt-get install espeak-ng; scripts/setup.sh installs it)"
        )
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout
    return out.strip().splitlines()[0].split("  Data at")[0].strip()  # "eSpeak NG text-to-speech: 1.51"


def synthesise_digits(
    out_dir: Path,
    *,
    accents: Sequence[str] = ACCENTS,
    variants: Sequence[str] = VARIANTS,
    pitches: Sequence[int] = PITCHES,
    seed: int = 0,
    progress: bool = True,
    binary: str = "espeak-ng",
) -> SynthReport:
    """Write every voice's ten digits into ``out_dir`` (created; existing files are overwritten)."""
    version = espeak_version(binary)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    voices = [(a, v, p) for a in accents for v in variants for p in pitches]
    files = 0
    for accent, variant, pitch in tqdm(voices, desc="synthetic voices", unit="voice", disable=not progress):
        voice = f"s{accent}{variant}p{pitch}"
        for digit, word in zip(FSDD_LABELS, WORDS, strict=True):
            rate = int(rng.integers(*RATES_WPM))
            path = out_dir / f"{digit}_{voice}_0.wav"
            voice_arg = f"{accent}+{variant}"
            cmd = [binary, "-v", voice_arg, "-p", str(pitch), "-s", str(rate), "-w", str(path), word]
            subprocess.run(cmd, check=True, capture_output=True)
            _resample_and_trim(path)
            files += 1
    (out_dir / SYNTHESISER_FILE).write_text(version + "\n", encoding="utf-8")
    return SynthReport(out_dir, files, len(voices), version)


def recorded_synthesiser(folder: Path) -> str | None:
    """The synthesiser ``synthesise_digits`` wrote into ``folder`` when it made the recordings there; ``None``
    for a folder made otherwise (or before the version was written down)."""
    try:
        return (folder / SYNTHESISER_FILE).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def _resample_and_trim(path: Path) -> None:
    """Rewrite espeak-ng's recording at ``path`` at ``SAMPLE_RATE``, trimmed to the word plus ``MARGIN_S``."""
    samples, rate = sf.read(path, dtype="float64")
    y = librosa.resample(samples, orig_sr=rate, target_sr=SAMPLE_RATE)
    _, (start, end) = librosa.effects.trim(y, top_db=TRIM_DB, frame_length=256, hop_length=64)
    margin = int(MARGIN_S * SAMPLE_RATE)
    sf.write(path, y[max(0, start - margin) : end + margin], SAMPLE_RATE, subtype="PCM_16")


def extra_examples(folder: Path) -> list[AudioExample]:
    """The recordings of ``folder`` named like FSDD's (``{digit}_{voice}_{index}.wav``) as examples of speaker
    ``extra:{voice}``; a clear error for a folder that has none or a file named otherwise."""
    paths = sorted(folder.glob("*.wav"))
    if not paths:
        raise ValueError(
            f"{folder}: no .wav recordings (make them with `rnnstream synth-digits --out {folder}`)"
        )
    out = []
    for path in paths:
        parts = path.stem.split("_")
        if len(parts) != 3 or parts[0] not in FSDD_LABELS or not parts[2].isdigit():
            raise ValueError(f"{path}: not named {{digit}}_{{voice}}_{{index}}.wav")
        out.append(AudioExample(path, parts[0], f"extra:{parts[1]}", int(parts[2])))
    return out
