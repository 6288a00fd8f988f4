"""Turn the datasets into model inputs with the serving side's own front-ends (so training and serving
compute features the same way)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from rnnstream.datasets import FSDD_LABELS, SMS_LABELS, Split, fsdd_split, sms_split
from rnnstream.features.audio import file_features
from rnnstream.features.text import Vocabulary, tokenize
from rnnstream.repository.manifest import LogMelConfig


@dataclass
class Prepared:
    """Sequences (``[time, n_mels]`` float32 or ``[time]`` int64) and label indices of one split."""

    x: list[NDArray[np.generic]]
    y: list[int]
    names: list[str] = field(default_factory=list)


def prepare_audio(data_dir: Path, split: Split, cfg: LogMelConfig, progress: bool = True) -> Prepared:
    """Log-mel frames of every FSDD recording in ``split``."""
    examples = fsdd_split(data_dir, split)
    out = Prepared([], [], [])
    for ex in tqdm(examples, desc=f"features ({split})", unit="file", disable=not progress, leave=False):
        out.x.append(file_features(ex.path, cfg))
        out.y.append(FSDD_LABELS.index(ex.label))
        out.names.append(ex.path.name)
    return out


def prepare_text(data_dir: Path, split: Split, vocab: Vocabulary | None) -> tuple[Prepared, Vocabulary]:
    """Token ids of every SMS message in ``split``; builds the vocabulary from it when ``vocab`` is None."""
    examples = sms_split(data_dir, split)
    tokens = [tokenize(ex.text) for ex in examples]
    if vocab is None:
        vocab = Vocabulary.build(tokens, min_count=2)
    out = Prepared([], [], [])
    for ex, toks in zip(examples, tokens, strict=True):
        if not toks:  # nothing to read: cannot be classified by a sequence model
            continue
        out.x.append(vocab.encode(toks))
        out.y.append(SMS_LABELS.index(ex.label))
        out.names.append(f"line {ex.line}")
    return out, vocab
