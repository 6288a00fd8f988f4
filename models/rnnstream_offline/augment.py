"""Training-time audio augmentation, computed on mel power so the serving front-end stays exactly as it is.

Each training recording is resampled once per speed factor (speed perturbation: tempo and pitch change
together, as when a recording is played faster or slower; scipy's polyphase resampler) and turned into mel
power with the serving side's own STFT and mel filters. Each time a batch is drawn, every example gets a
random speed variant and, independently:

- gain: the power times ``10^(g/10)``, ``g`` uniform in ``±gain_db`` (a quieter or louder microphone; the
  six FSDD voices are recorded 21 dB apart, so the default range is wide);
- channel: a random smooth equaliser, ``±tilt_db`` of tilt across the mel bands plus a bend of half that
  (another microphone's frequency response);
- DC offset: the mel power of a constant of up to ``dc_offset`` times the recording's RMS (one FSDD voice is
  recorded with a DC offset of 0.16 RMS, which shows up in the lowest mel band);
- additive noise at a random SNR: white Gaussian noise of variance ``P / 10^(snr/10)`` (``P`` the
  recording's mean sample power) with a random spectral tilt, added in the power domain (its expected
  periodogram, with the exponential spread of a real one; the signal-noise cross term, zero on average, is
  left out);
- tempo (off by default): on ``tempo_prob`` of the examples, the frames stretched or squeezed in time by a
  factor up to ``1 + tempo`` either way, by interpolating between frames (a slower or faster speaker with
  the same voice; speed perturbation changes the pitch and formants too);
- an early end (off by default): on ``trim_prob`` of the examples, up to ``trim_share`` of the last frames
  cut off (a recording trimmed tightly, or a word's weak last sound lost);
- time shift: up to ``pad_frames`` frames of low-level background before and after the word;
- SpecAugment-style masks: time and mel-band masks set to the training mean (zero after the model's
  normalisation).

Nothing here runs at serving time: the model sees the same log-mel frames in training as in production, only
more varied ones. The test split is never augmented.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

import librosa
import numpy as np
from numpy.typing import NDArray
from scipy.signal import resample_poly

from rnnstream.features.audio import mel_basis, mel_power, read_mono
from rnnstream.repository.manifest import LogMelConfig


@dataclass(frozen=True)
class AudioAugmentConfig:
    """What the training batches are varied by (see the module docstring)."""

    speeds: tuple[float, ...] = (0.9, 0.95, 1.0, 1.05, 1.1)
    gain_db: float = 20.0
    tilt_db: float = 6.0
    tilt_prob: float = 0.8
    dc_offset: float = 0.3
    dc_prob: float = 0.5
    noise_prob: float = 0.5
    snr_db: tuple[float, float] = (10.0, 40.0)
    pad_frames: int = 10
    tempo: float = 0.0  # > 0: on tempo_prob of the examples, stretch time by up to (1 + tempo)x either way
    tempo_prob: float = 0.8
    trim_prob: float = 0.0  # this share of drawn examples loses up to trim_share of its last frames
    trim_share: float = 0.2
    time_masks: int = 1
    time_mask_frames: int = 8
    freq_masks: int = 1
    freq_mask_bins: int = 5
    clean_prob: float = 0.2  # this share of examples is used as recorded (speed 1, nothing added)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def preset(cls, name: str) -> AudioAugmentConfig:
        """A named recipe: ``v3`` (the defaults; ``fsdd-digits-gru/1``) or ``v2`` (``fsdd-digits-lstm/2``:
        gain ±6 dB, no equaliser, no DC offset)."""
        if name == "v3":
            return cls()
        if name == "v2":
            return cls(gain_db=6.0, tilt_db=0.0, tilt_prob=0.0, dc_offset=0.0, dc_prob=0.0)
        raise ValueError(f"unknown augmentation preset {name!r} (v2 or v3)")


def speed_perturb(samples: NDArray[np.float64], speed: float) -> NDArray[np.float64]:
    """Play ``samples`` ``speed`` times faster (resampled to ``1/speed`` of the length, same rate)."""
    if speed == 1.0:
        return samples
    ratio = Fraction(1 / speed).limit_denominator(100)
    out: NDArray[np.float64] = resample_poly(samples, ratio.numerator, ratio.denominator)
    return out


def stretch_frames(power: NDArray[np.float32], factor: float) -> NDArray[np.float32]:
    """``power`` [frames, bins] lasting ``factor`` times as long (linear interpolation between frames): a
    tempo change that leaves the spectrum of each moment, pitch and formants included, as it was."""
    frames = len(power)
    target = max(round(frames * factor), 1)
    if target == frames:
        return power
    at = np.linspace(0.0, frames - 1.0, target)
    low = np.floor(at).astype(int)
    high = np.minimum(low + 1, frames - 1)
    w = (at - low).astype(np.float32)[:, None]
    out: NDArray[np.float32] = power[low] * (1 - w) + power[high] * w
    return out


@dataclass
class _Variant:
    power: NDArray[np.float32]  # [frames, n_mels]
    sample_power: float  # mean of samples**2


class AugmentedAudio:
    """The training recordings, ready to be drawn as augmented log-mel sequences."""

    def __init__(
        self, paths: Sequence[Any], features: LogMelConfig, cfg: AudioAugmentConfig, fill: NDArray[np.float32]
    ) -> None:
        self.features, self.cfg = features, cfg
        self.fill = np.asarray(fill, np.float32)  # value of a masked cell (the training mean of each bin)
        self.variants: list[list[_Variant]] = []
        for path in paths:
            mono = read_mono(path, features.sample_rate)
            row = []
            for speed in cfg.speeds:
                y = speed_perturb(mono, speed)
                row.append(_Variant(mel_power(y, features).T.astype(np.float32), float(np.mean(y**2))))
            self.variants.append(row)
        window = librosa.filters.get_window(features.window, features.win_length, fftbins=True)
        # Expected mel power of unit-variance white noise, per (mel band, FFT bin).
        self._noise_basis = (np.sum(window**2) * mel_basis(features)).T.astype(np.float32)  # [bins, n_mels]
        # Mel power per frame of a constant signal of value 1 (what a DC offset adds), [n_mels].
        self._dc_power = mel_power(np.ones(features.n_fft * 4), features).T.mean(0).astype(np.float32)
        self._bands = np.linspace(-1.0, 1.0, features.n_mels, dtype=np.float32)
        self._clean = cfg.speeds.index(1.0) if 1.0 in cfg.speeds else 0

    def __len__(self) -> int:
        return len(self.variants)

    def draw(self, indices: Sequence[int], rng: np.random.Generator) -> list[NDArray[np.float32]]:
        """Augmented log-mel sequences ``[frames, n_mels]`` of the recordings ``indices``."""
        return [self._one(int(i), rng) for i in indices]

    def _noise(self, frames: int, rng: np.random.Generator) -> NDArray[np.float32]:
        """Mel power of unit-variance noise with a random tilt over ``frames`` frames."""
        bins = self._noise_basis.shape[0]
        tilt = np.exp(rng.uniform(-1.5, 1.5) * (np.linspace(0, 1, bins) - 0.5)).astype(np.float32)
        periodogram = rng.exponential(1.0, (frames, bins)).astype(np.float32) * tilt / tilt.mean()
        out: NDArray[np.float32] = periodogram @ self._noise_basis
        return out

    def _one(self, i: int, rng: np.random.Generator) -> NDArray[np.float32]:
        cfg, floor = self.cfg, self.features.log_floor
        if rng.uniform() < cfg.clean_prob:
            v = self.variants[i][self._clean]
            return np.log(v.power + floor).astype(np.float32)  # type: ignore[no-any-return]
        v = self.variants[i][int(rng.integers(len(cfg.speeds)))]
        gain = float(10 ** (rng.uniform(-cfg.gain_db, cfg.gain_db) / 10))
        power = v.power * np.float32(gain)
        if cfg.tempo > 0 and rng.uniform() < cfg.tempo_prob:  # (no draw when off)
            power = stretch_frames(power, float(np.exp(rng.uniform(-1, 1) * np.log1p(cfg.tempo))))
        if cfg.trim_prob > 0 and rng.uniform() < cfg.trim_prob:  # (no draw when off)
            cut = int(rng.integers(0, int(cfg.trim_share * len(power)) + 1))
            power = power[: max(len(power) - cut, 1)]
        if cfg.pad_frames > 0:
            before, after = (int(n) for n in rng.integers(0, cfg.pad_frames + 1, size=2))
            quiet = np.quantile(power, 0.05, axis=0).astype(np.float32)  # the recording's background level
            pads = [
                quiet * rng.exponential(1.0, (n, power.shape[1])).astype(np.float32) for n in (before, after)
            ]
            power = np.concatenate([pads[0], power, pads[1]])
        if cfg.dc_prob > 0 and rng.uniform() < cfg.dc_prob:  # (no draw when off: v2 draws stay as they were)
            offset_power = v.sample_power * gain * rng.uniform(0.0, cfg.dc_offset) ** 2
            power = power + np.float32(offset_power) * self._dc_power
        if rng.uniform() < cfg.noise_prob:
            variance = v.sample_power * gain / 10 ** (rng.uniform(*cfg.snr_db) / 10)
            power = power + np.float32(variance) * self._noise(len(power), rng)
        if cfg.tilt_prob > 0 and rng.uniform() < cfg.tilt_prob:
            k = self._bands
            curve = rng.uniform(-1.0, 1.0) * k + rng.uniform(-0.5, 0.5) * (k**2 - np.float32(1 / 3))
            power = power * (10 ** (np.float32(cfg.tilt_db / 10) * curve)).astype(np.float32)
        x = np.log(power + floor).astype(np.float32)
        for _ in range(cfg.time_masks):
            width = int(rng.integers(0, cfg.time_mask_frames + 1))
            if 0 < width < len(x) // 2:
                start = int(rng.integers(0, len(x) - width))
                x[start : start + width] = self.fill
        for _ in range(cfg.freq_masks):
            width = int(rng.integers(0, cfg.freq_mask_bins + 1))
            if width > 0:
                start = int(rng.integers(0, x.shape[1] - width))
                x[:, start : start + width] = self.fill[start : start + width]
        return x
