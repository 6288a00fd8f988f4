"""Leave-one-speaker-out training on FSDD: one fold per speaker, trained on the other speakers' recordings.

Each fold goes through the same pipeline as a published model (train → checkpoint → ONNX → verify) and is
published into a private repository of fold models, ``<out>/folds/<name>-loso-<speaker>/1/``, whose manifests
name the test speaker; ``rnnstream eval <out>/folds --loso --data DIR`` scores them (no torch needed).
Fold models are evaluation artefacts, never served.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from rnnstream.datasets import fsdd_speakers
from rnnstream_offline.pipeline import TrainRequest, export_checkpoint, train_model


def fold_name(base: str, speaker: str) -> str:
    return f"{base}-loso-{speaker}"


def train_loso(req: TrainRequest, out_dir: Path, speakers: Sequence[str] = (), progress: bool = True) -> Path:
    """Train and publish a fold for each of ``speakers`` (default: every speaker); returns the folder of fold
    models. A fold already there is replaced."""
    if req.task != "audio":
        raise ValueError("leave-one-speaker-out folds are for the FSDD audio task")
    every = fsdd_speakers(req.data_dir)
    chosen = list(speakers) or every
    unknown = sorted(set(chosen) - set(every))
    if unknown:
        raise ValueError(f"unknown speakers {unknown} (FSDD has {', '.join(every)})")
    folds = out_dir / "folds"
    for speaker in chosen:
        if progress:
            tqdm.write(f"fold: test on {speaker}, train on the other {len(every) - 1} speakers")
        fold = replace(req, held_out_speaker=speaker, name=fold_name(req.name, speaker))
        ck = train_model(fold, out_dir / "runs" / speaker, progress)
        export_checkpoint(ck, folds, version="1", force=True)
    return folds
