"""The audio front-end: any file → mono at the model's rate → log-mel frames (librosa).

``FeatureStream`` is the streaming form: push samples in any pieces (any rate, any channel count), get the
frames that became complete; ``flush`` at the end. ``compute_features`` is the whole-recording form and is
defined as one push of everything plus ``flush``; tests check both give the same frames for any cutting.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
from numpy.typing import NDArray

from rnnstream.errors import InputError, InputTooShortError
from rnnstream.features.resample import StreamingResampler
from rnnstream.repository.manifest import LogMelConfig

Frames = NDArray[np.float32]


@lru_cache(maxsize=16)
def mel_basis(cfg: LogMelConfig) -> NDArray[np.float64]:
    return librosa.filters.mel(
        sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax, dtype=np.float64
    )


def mel_power(samples: NDArray[np.float64], cfg: LogMelConfig) -> NDArray[np.float64]:
    """Mel power of ``samples`` (mono at ``cfg.sample_rate``), not centred: ``[n_mels, frames]`` float64.

    The log of this plus ``cfg.log_floor`` is the model input; training-time augmentation works on it too.
    """
    n_frames = 0 if len(samples) < cfg.n_fft else 1 + (len(samples) - cfg.n_fft) // cfg.hop_length
    if n_frames == 0:
        return np.zeros((cfg.n_mels, 0), dtype=np.float64)
    used = samples[: cfg.n_fft + (n_frames - 1) * cfg.hop_length]
    spec = librosa.stft(
        used,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        window=cfg.window,
        center=False,
    )
    power: NDArray[np.float64] = mel_basis(cfg) @ (np.abs(spec) ** 2)
    return power


def log_mel_frames(samples: NDArray[np.float64], cfg: LogMelConfig) -> Frames:
    """Log-mel frames of ``samples`` (already mono at ``cfg.sample_rate``), not centred: ``[frames, n_mels]``."""
    frames: Frames = np.log(mel_power(samples, cfg) + cfg.log_floor).T.astype(np.float32)
    return frames


def to_mono(samples: NDArray[np.floating]) -> NDArray[np.float64]:
    """``[n]`` or ``[n, channels]`` → mono ``[n]`` (channel mean), float64."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 2:
        mono: NDArray[np.float64] = x.mean(axis=1)
        return mono
    if x.ndim != 1:
        raise InputError(f"audio must be [samples] or [samples, channels], got shape {x.shape}")
    return x


class FeatureStream:
    """Streaming log-mel front-end for one recording."""

    def __init__(self, cfg: LogMelConfig, source_rate: int) -> None:
        self.cfg = cfg
        self.source_rate = source_rate
        self._resampler = StreamingResampler(source_rate, cfg.sample_rate)
        self._pending: NDArray[np.float64] = np.zeros(0)
        self.frames_out = 0

    def push(self, samples: NDArray[np.floating]) -> Frames:
        """Feed samples (``[n]`` or ``[n, channels]`` at ``source_rate``); returns new complete frames."""
        return self._frames(self._resampler.push(to_mono(samples)))

    def flush(self) -> Frames:
        """End of the recording: the frames still pending (a trailing partial frame is dropped)."""
        return self._frames(self._resampler.flush())

    def _frames(self, resampled: NDArray[np.float64]) -> Frames:
        self._pending = np.concatenate([self._pending, resampled])
        frames = log_mel_frames(self._pending, self.cfg)
        consumed = len(frames) * self.cfg.hop_length
        self._pending = self._pending[consumed:]
        self.frames_out += len(frames)
        return frames


def compute_features(samples: NDArray[np.floating], source_rate: int, cfg: LogMelConfig) -> Frames:
    """Whole-recording features; raises ``InputTooShortError`` when not one frame fits."""
    stream = FeatureStream(cfg, source_rate)
    frames = np.concatenate([stream.push(samples), stream.flush()])
    if len(frames) == 0:
        need_s = cfg.n_fft / cfg.sample_rate
        raise InputTooShortError(
            f"audio too short: {len(samples)} samples at {source_rate} Hz; one frame needs {need_s * 1000:.0f} ms"
        )
    return frames


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
