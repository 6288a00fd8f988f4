"""Bundled sample recordings and messages (see NOTICE.md for their attributions)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

SAMPLES_DIR = Path(__file__).resolve().parent
#: The continuous recording (``scripts/make_continuous_sample.py``): the ten digits in one stream.
CONTINUOUS_DIR = SAMPLES_DIR / "continuous"
CONTINUOUS_WAV = CONTINUOUS_DIR / "digits-8k.wav"


def sample_recordings() -> list[tuple[Path, str]]:
    """``(path, spoken digit)`` of the bundled FSDD recordings."""
    return [(p, p.name.split("_")[0]) for p in sorted((SAMPLES_DIR / "fsdd").glob("*.wav"))]


def sample_messages() -> list[tuple[str, str]]:
    """``(text, label)`` of the bundled SMS messages."""
    with (SAMPLES_DIR / "sms" / "messages.tsv").open(encoding="utf-8") as f:
        return [(row["text"], row["label"]) for row in csv.DictReader(f, delimiter="\t")]


def sample_continuous() -> tuple[Path, dict[str, Any]]:
    """The bundled continuous recording and its truth document (``words``: label, start_s, end_s, source)."""
    truth = json.loads(CONTINUOUS_WAV.with_suffix(".json").read_text(encoding="utf-8"))
    return CONTINUOUS_WAV, truth
