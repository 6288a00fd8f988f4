"""Readers for the two public datasets rnnstream trains and evaluates on (file lists and labels only).

- Free Spoken Digit Dataset: ``<dir>/recordings/{digit}_{speaker}_{index}.wav``; official split: index 0-4
  test, 5-49 train (every speaker in both halves); leave-one-speaker-out folds: one speaker's recordings are
  the test set, the other speakers' the training set. CC BY-SA 4.0, by Zohar Jackson and contributors.
- SMS Spam Collection v.1: ``<dir>/SMSSpamCollection`` (``label<TAB>text``) and ``split_suggested.tsv``
  (``line, label, split``). CC BY 4.0, by Tiago A. Almeida and José María Gómez Hidalgo.

Used by the offline side for training and by ``rnnstream eval``; the service itself never needs them.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rnnstream.errors import ConfigurationError

Split = Literal["train", "test"]
FSDD_LABELS = [str(d) for d in range(10)]
SMS_LABELS = ["ham", "spam"]
_FSDD_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")


@dataclass(frozen=True)
class AudioExample:
    path: Path
    label: str
    speaker: str
    index: int


@dataclass(frozen=True)
class TextExample:
    line: int
    text: str
    label: str


def detect(data_dir: Path) -> Literal["audio", "text"]:
    """Which dataset a folder holds."""
    if (data_dir / "recordings").is_dir():
        return "audio"
    if (data_dir / "SMSSpamCollection").is_file():
        return "text"
    raise ConfigurationError(
        f"{data_dir} holds neither FSDD (recordings/) nor the SMS Spam Collection (SMSSpamCollection)"
    )


def fsdd_recordings(data_dir: Path) -> list[AudioExample]:
    """Every FSDD recording, sorted by file name."""
    folder = data_dir / "recordings"
    if not folder.is_dir():
        raise ConfigurationError(f"{folder} not found")
    out = []
    for path in sorted(folder.glob("*.wav")):
        m = _FSDD_NAME.match(path.name)
        if m is not None:
            out.append(AudioExample(path, m.group(1), m.group(2), int(m.group(3))))
    if not out:
        raise ConfigurationError(f"no FSDD recordings found in {folder}")
    return out


def fsdd_split(data_dir: Path, split: Split) -> list[AudioExample]:
    """FSDD recordings of one split of the official split, sorted by file name."""
    return [ex for ex in fsdd_recordings(data_dir) if (ex.index < 5) == (split == "test")]


def fsdd_speakers(data_dir: Path) -> list[str]:
    """The speakers in an FSDD folder, sorted."""
    return sorted({ex.speaker for ex in fsdd_recordings(data_dir)})


def fsdd_speaker_split(data_dir: Path, held_out: str, split: Split) -> list[AudioExample]:
    """A leave-one-speaker-out fold: ``test`` is every recording of ``held_out``, ``train`` every other one."""
    every = fsdd_recordings(data_dir)
    if held_out not in {ex.speaker for ex in every}:
        known = ", ".join(sorted({ex.speaker for ex in every}))
        raise ConfigurationError(f"no speaker {held_out!r} in {data_dir} (speakers: {known})")
    return [ex for ex in every if (ex.speaker == held_out) == (split == "test")]


def sms_split(data_dir: Path, split: Split) -> list[TextExample]:
    """SMS messages of one split, in file order (``split_suggested.tsv``)."""
    try:
        lines = (data_dir / "SMSSpamCollection").read_text(encoding="utf-8").splitlines()
        with (data_dir / "split_suggested.tsv").open(encoding="utf-8") as f:
            splits = {int(r["line"]): r["split"] for r in csv.DictReader(f, delimiter="\t")}
    except OSError as exc:
        raise ConfigurationError(f"cannot read the SMS Spam Collection in {data_dir}: {exc}") from exc
    out = []
    for number, line in enumerate(lines, start=1):
        label, _, text = line.partition("\t")
        if splits.get(number) == split and label in SMS_LABELS:
            out.append(TextExample(number, text, label))
    return out
