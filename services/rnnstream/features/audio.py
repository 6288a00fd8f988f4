"""The audio front-end: any file → mono at the model's rate → log-mel frames.

Reading files needs soundfile (and librosa for formats libsndfile cannot open); the computation itself is
``rnnstream.features.logmel`` (numpy only, so the worker can run it), re-exported here.

``FeatureStream`` is the streaming form: push samples in any pieces (any rate, any channel count), get the
frames that became complete; ``flush`` at the end. ``compute_features`` is the whole-recording form and is
defined as one push of everything plus ``flush``; tests check both give the same frames for any cutting.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
from numpy.typing import NDArray

from rnnstream.errors import InputError, InputTooShortError
from rnnstream.features.logmel import (
    Frames,
    LogMelStream,
    compute_features,
    log_mel_frames,
    mel_filterbank,
    mel_power,
    power_spectrum,
    to_mono,
)
from rnnstream.repository.manifest import LogMelConfig

__all__ = [
    "FeatureStream",
    "Frames",
    "LogMelStream",
    "compute_features",
    "file_features",
    "iter_audio_blocks",
    "log_mel_frames",
    "mel_basis",
    "mel_power",
    "power_spectrum",
    "read_audio",
    "read_mono",
    "to_mono",
]


def mel_basis(cfg: LogMelConfig) -> NDArray[np.float64]:
    """The mel filter bank ``[n_mels, 1 + n_fft//2]`` (read-only, cached); see ``logmel.mel_filterbank``."""
    return mel_filterbank(cfg)


FeatureStream = LogMelStream
"""Streaming front-end for one recording (the numpy ``LogMelStream``; its state can be stored)."""


def read_audio(path: Path | str) -> tuple[NDArray[np.float64], int]:
    """Read any file soundfile (libsndfile) or librosa can open: ``(samples [n, channels], rate)``."""
    try:
        data, rate = sf.read(str(path), dtype="float64", always_2d=True)
        return data, int(rate)
    except sf.LibsndfileError:
        pass
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    try:
        y, rate = librosa.load(str(path), sr=None, mono=False)
    except Exception as exc:  # librosa/audioread raise many kinds
        raise InputError(f"{path}: cannot read audio ({exc})") from exc
    y = np.asarray(y, dtype=np.float64)
    return (y[:, None] if y.ndim == 1 else y.T), int(rate)


def read_mono(path: Path | str, rate: int) -> NDArray[np.float64]:
    """A whole file as mono samples at ``rate`` (resampled with librosa when the file's rate differs, as the
    training pipeline reads its recordings; the serving front-end streams with its own resampler)."""
    data, file_rate = read_audio(path)
    mono = to_mono(data)
    if file_rate != rate:
        mono = np.asarray(librosa.resample(mono, orig_sr=file_rate, target_sr=rate), dtype=np.float64)
    return mono


def iter_audio_blocks(path: Path | str, block_frames: int) -> Iterator[tuple[NDArray[np.float64], int]]:
    """Read a file in blocks of ``block_frames`` samples: ``(block [n, channels], rate)``."""
    try:
        with sf.SoundFile(str(path)) as f:
            rate = int(f.samplerate)
            for block in f.blocks(blocksize=block_frames, dtype="float64", always_2d=True):
                yield block, rate
            return
    except sf.LibsndfileError:
        pass
    data, rate = read_audio(path)
    for start in range(0, len(data), block_frames):
        yield data[start : start + block_frames], rate


def file_features(path: Path | str, cfg: LogMelConfig) -> Frames:
    """Features of a whole file."""
    data, rate = read_audio(path)
    try:
        return compute_features(data, rate, cfg)
    except InputTooShortError as exc:
        raise InputTooShortError(f"{path}: {exc}") from exc
