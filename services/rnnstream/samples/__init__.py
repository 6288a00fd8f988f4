"""Bundled sample recordings and messages (see NOTICE.md for their attributions)."""

from __future__ import annotations

import csv
from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parent


def sample_recordings() -> list[tuple[Path, str]]:
    """``(path, spoken digit)`` of the bundled FSDD recordings."""
    return [(p, p.name.split("_")[0]) for p in sorted((SAMPLES_DIR / "fsdd").glob("*.wav"))]


def sample_messages() -> list[tuple[str, str]]:
    """``(text, label)`` of the bundled SMS messages."""
    with (SAMPLES_DIR / "sms" / "messages.tsv").open(encoding="utf-8") as f:
        return [(row["text"], row["label"]) for row in csv.DictReader(f, delimiter="\t")]
