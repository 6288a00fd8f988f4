"""Turn the datasets into model inputs with the serving side's own front-ends (so training and serving
compute features the same way)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from rnnstream.datasets import FSDD_LABELS, SMS_LABELS, AudioExample, Split, fsdd_split, sms_split
from rnnstream.features.audio import file_features
from rnnstream.features.text import Vocabulary, tokenize
from rnnstream.repository.manifest import LogMelConfig


@dataclass
class Prepared:
    """Sequences (``[time, n_mels]`` float32 or ``[time]`` int64) and label indices of one split."""

    x: list[NDArray[np.generic]]
    y: list[int]
    names: list[str] = field(default_factory=list)
    fallback: list[NDArray[np.int64]] = field(default_factory=list)  # text: ids as if every token were unseen


def prepare_audio(data_dir: Path, split: Split, cfg: LogMelConfig, progress: bool = True) -> Prepared:
    """Log-mel frames of every FSDD recording in ``split`` (the official split)."""
    return prepare_audio_examples(fsdd_split(data_dir, split), cfg, progress, desc=f"features ({split})")


def prepare_audio_examples(
    examples: list[AudioExample], cfg: LogMelConfig, progress: bool = True, desc: str = "features"
) -> Prepared:
    """Log-mel frames of the given FSDD recordings."""
    out = Prepared([], [], [])
    for ex in tqdm(examples, desc=desc, unit="file", disable=not progress, leave=False):
        out.x.append(file_features(ex.path, cfg))
        out.y.append(FSDD_LABELS.index(ex.label))
        out.names.append(ex.path.name)
    return out


def prepare_text(
    data_dir: Path, split: Split, vocab: Vocabulary | None, *, hash_buckets: int | None = None
) -> tuple[Prepared, Vocabulary]:
    """Token ids of every SMS message in ``split``; builds the vocabulary from it when ``vocab`` is None
    (format v2 with ``hash_buckets``, else v1)."""
    examples = sms_split(data_dir, split)
    tokens = [tokenize(ex.text) for ex in examples]
    if vocab is None:
        vocab = Vocabulary.build(tokens, min_count=2, hash_buckets=hash_buckets)
    out = Prepared([], [], [])
    for ex, toks in zip(examples, tokens, strict=True):
        if not toks:  # nothing to read: cannot be classified by a sequence model
            continue
        out.x.append(vocab.encode(toks))
        out.y.append(SMS_LABELS.index(ex.label))
        out.names.append(f"line {ex.line}")
        out.fallback.append(vocab.encode_fallback(toks))
    return out, vocab


def token_dropout(
    prepared: Prepared, rate: float
) -> Callable[[Sequence[int], np.random.Generator], list[NDArray[np.generic]]]:
    """A training ``augment``: each known token is replaced by its fallback id (shape class or hash bucket)
    with probability ``rate``, so those ids learn what unseen words look like."""

    def draw(indices: Sequence[int], rng: np.random.Generator) -> list[NDArray[np.generic]]:
        out: list[NDArray[np.generic]] = []
        for i in indices:
            x, alt = prepared.x[i], prepared.fallback[i]
            out.append(np.where(rng.uniform(size=len(x)) < rate, alt, x))
        return out

    return draw
