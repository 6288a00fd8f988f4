"""The log-mel front-end in numpy alone: mono samples at the model's rate → log-mel frames.

The worker image has neither librosa nor scipy, yet must compute the same frames the models were trained
on. This module gives exactly the frames ``librosa.stft(center=False)`` with librosa's Slaney mel filter
bank gave (tests compare with librosa to rounding), and ``LogMelStream`` computes them incrementally with a
state (``state``/``from_state``) small enough to store after every chunk, so another process can continue
the stream and produce the very same frames.

A frame ``t`` covers samples ``[t*hop, t*hop + n_fft)`` (not centred); its value is
``log(mel @ |rfft(frame * window)|**2 + log_floor)``.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from rnnstream.errors import InputError, InputTooShortError
from rnnstream.features.resample import StreamingResampler, check_state_keys, state_array
from rnnstream.repository.manifest import LogMelConfig

Frames = NDArray[np.float32]
Float = NDArray[np.float64]

# The Slaney mel scale (Auditory Toolbox): linear below 1 kHz, logarithmic above.
_F_SP = 200.0 / 3  # Hz per mel in the linear part
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0  # log-Hz per mel in the log part


def hz_to_mel(hz: Float | float) -> Float:
    """Frequencies in Hz → Slaney mels."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / _F_SP
    log_part = _MIN_LOG_MEL + np.log(np.maximum(hz, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    mels: Float = np.where(hz >= _MIN_LOG_HZ, log_part, linear)
    return mels


def mel_to_hz(mels: Float | float) -> Float:
    """Slaney mels → frequencies in Hz."""
    mels = np.asarray(mels, dtype=np.float64)
    linear = _F_SP * mels
    log_part = _MIN_LOG_HZ * np.exp(_LOGSTEP * (np.maximum(mels, _MIN_LOG_MEL) - _MIN_LOG_MEL))
    hz: Float = np.where(mels >= _MIN_LOG_MEL, log_part, linear)
    return hz


@lru_cache(maxsize=16)
def mel_filterbank(cfg: LogMelConfig) -> Float:
    """Slaney-normalised triangular mel filters, ``[n_mels, 1 + n_fft//2]`` float64.

    The same matrix as ``librosa.filters.mel(..., htk=False, norm="slaney")``: ``n_mels`` triangles whose
    edges are equally spaced in mels between ``fmin`` and ``fmax``, each scaled by ``2 / (its width in
    Hz)`` so every band has about the same energy. The (cached) array is read-only.
    """
    fft_hz = np.fft.rfftfreq(cfg.n_fft, d=1.0 / cfg.sample_rate)
    edges_mel = np.linspace(hz_to_mel(cfg.fmin), hz_to_mel(cfg.fmax), cfg.n_mels + 2)
    edges_hz = mel_to_hz(edges_mel)
    widths = np.diff(edges_hz)
    ramps = edges_hz[:, None] - fft_hz[None, :]  # [n_mels + 2, bins]: edge minus bin frequency
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights: Float = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    empty = (edges_hz[:-2] != 0) & (weights.max(axis=1) <= 0)
    if np.any(empty):
        warnings.warn(
            f"{int(empty.sum())} of {cfg.n_mels} mel filters are empty (no FFT bin falls inside them); "
            "raise n_fft or lower n_mels",
            stacklevel=2,
        )
    weights.setflags(write=False)
    return weights


@lru_cache(maxsize=16)
def analysis_window(cfg: LogMelConfig) -> Float:
    """The periodic ``cfg.window`` of ``win_length`` samples, zero-padded centred to ``n_fft``.

    Periodic ("fftbins") like ``scipy.signal.get_window``; centred like ``librosa.util.pad_center``, so
    ``floor((n_fft - win_length) / 2)`` zeros go before it. The (cached) array is read-only.
    """
    coefficients = {"hann": 0.5, "hamming": 0.54}  # w = a - (1 - a) cos(2 pi n / win_length)
    if cfg.window not in coefficients:
        raise ValueError(f"unsupported window {cfg.window!r}: the front-end knows {sorted(coefficients)}")
    a = coefficients[cfg.window]
    # Evaluated as scipy does (one symmetric period of win_length + 1 points, the last dropped).
    phase = np.linspace(-np.pi, np.pi, cfg.win_length + 1)[:-1]
    window = a + (1.0 - a) * np.cos(phase)
    left = (cfg.n_fft - cfg.win_length) // 2
    padded = np.zeros(cfg.n_fft)
    padded[left : left + cfg.win_length] = window
    padded.setflags(write=False)
    return padded


def n_frames(n_samples: int, cfg: LogMelConfig) -> int:
    """How many complete frames ``n_samples`` samples hold."""
    return 0 if n_samples < cfg.n_fft else 1 + (n_samples - cfg.n_fft) // cfg.hop_length


def power_spectrum(samples: NDArray[np.floating], cfg: LogMelConfig) -> Float:
    """Power spectrum of each complete frame of ``samples`` (mono at ``cfg.sample_rate``), not centred:
    ``[frames, n_fft // 2 + 1]`` float64 (the windowed frame's ``|rfft|**2``)."""
    x = np.asarray(samples, dtype=np.float64)
    count = n_frames(len(x), cfg)
    if count == 0:
        return np.zeros((0, cfg.n_fft // 2 + 1), dtype=np.float64)
    frames = np.lib.stride_tricks.sliding_window_view(x, cfg.n_fft)[:: cfg.hop_length][:count]
    power: Float = np.abs(np.fft.rfft(frames * analysis_window(cfg), axis=1)) ** 2
    return power


def mel_power(samples: NDArray[np.floating], cfg: LogMelConfig) -> Float:
    """Mel power of ``samples`` (mono at ``cfg.sample_rate``), not centred: ``[n_mels, frames]`` float64.

    The log of this plus ``cfg.log_floor`` is the model input; training-time augmentation works on it too.
    """
    power: Float = mel_filterbank(cfg) @ power_spectrum(samples, cfg).T
    return power


def log_mel_frames(samples: NDArray[np.floating], cfg: LogMelConfig) -> Frames:
    """Log-mel frames of ``samples`` (already mono at ``cfg.sample_rate``), not centred: ``[frames, n_mels]``."""
    frames: Frames = np.log(mel_power(samples, cfg) + cfg.log_floor).T.astype(np.float32)
    return frames


def to_mono(samples: NDArray[np.floating]) -> Float:
    """``[n]`` or ``[n, channels]`` → mono ``[n]`` (channel mean), float64."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 2:
        mono: Float = x.mean(axis=1)
        return mono
    if x.ndim != 1:
        raise InputError(f"audio must be [samples] or [samples, channels], got shape {x.shape}")
    return x


_RESAMPLER = "resampler."


class LogMelStream:
    """Streaming log-mel front-end for one recording, resumable from its ``state()``.

    Push samples in any pieces (any rate, any channel count) and get the frames that became complete;
    ``flush`` at the end. The frames are those of one whole pass, however the input is cut and however
    often the stream is rebuilt with ``from_state`` in between.
    """

    def __init__(self, cfg: LogMelConfig, source_rate: int) -> None:
        analysis_window(cfg)  # an unsupported window fails here, not at the first frame
        self.cfg = cfg
        self.source_rate = source_rate
        self._resampler = StreamingResampler(source_rate, cfg.sample_rate)
        # Resampled samples from frames_out * hop on, not yet in a complete frame (fewer than n_fft).
        self._pending: Float = np.zeros(0)
        self.frames_out = 0

    @property
    def flushed(self) -> bool:
        """Whether ``flush`` was called (no more samples may be pushed)."""
        return self._resampler.finished

    def push(self, samples: NDArray[np.floating]) -> Frames:
        """Feed samples (``[n]`` or ``[n, channels]`` at ``source_rate``); returns new complete frames."""
        return self._frames(self._resampler.push(to_mono(samples)))

    def flush(self) -> Frames:
        """End of the recording: the frames still pending (a trailing partial frame is dropped)."""
        return self._frames(self._resampler.flush())

    def _frames(self, resampled: Float) -> Frames:
        hop = self.cfg.hop_length
        # When hop > n_fft, samples between frames belong to no frame; the skip is derived, not stored.
        before = self._resampler.samples_out - len(resampled)
        skip = max(0, self.frames_out * hop - before)
        self._pending = np.concatenate([self._pending, resampled[skip:]])
        frames = log_mel_frames(self._pending, self.cfg)
        self._pending = self._pending[len(frames) * hop :].copy()
        self.frames_out += len(frames)
        return frames

    def state(self) -> dict[str, np.ndarray]:
        """Everything later frames depend on, as a few float64/int64 arrays (copies).

        Keys: ``pending`` (float64 [< n_fft], resampled samples not yet framed), ``frames_out`` (int64 []),
        and the resampler's state under ``resampler.`` (``resampler.finished`` says whether ``flush``
        happened).
        """
        state = {_RESAMPLER + key: value for key, value in self._resampler.state().items()}
        state["pending"] = self._pending.copy()
        state["frames_out"] = np.array(self.frames_out, dtype=np.int64)
        return state

    @classmethod
    def from_state(cls, cfg: LogMelConfig, source_rate: int, state: dict[str, np.ndarray]) -> LogMelStream:
        """The stream ``state()`` was taken from, for the same ``cfg`` and ``source_rate``.

        Raises ``ValueError`` when ``state`` is not such a state (keys, dtypes, shapes or values).
        """
        resampler_keys = {_RESAMPLER + key for key in StreamingResampler.STATE_KEYS}
        check_state_keys(set(state), {"pending", "frames_out", *resampler_keys}, "log-mel stream")
        stream = cls(cfg, source_rate)
        resampler_state = {key[len(_RESAMPLER) :]: state[key] for key in resampler_keys}
        stream._resampler = StreamingResampler.from_state(source_rate, cfg.sample_rate, resampler_state)
        pending = state_array(state, "pending", np.float64, 1)
        frames_out = int(state_array(state, "frames_out", np.int64, 0))
        resampled = stream._resampler.samples_out
        if frames_out != n_frames(resampled, cfg):
            raise ValueError(
                f"log-mel stream state: frames_out={frames_out}, but {resampled} resampled samples make "
                f"{n_frames(resampled, cfg)} frames; is the state from another stream or config?"
            )
        expected = max(0, resampled - frames_out * cfg.hop_length)
        if len(pending) != expected:
            raise ValueError(
                f"log-mel stream state: {len(pending)} pending samples, expected {expected}; "
                "is the state from another stream or config?"
            )
        stream._pending = pending.copy()
        stream.frames_out = frames_out
        return stream


def compute_features(samples: NDArray[np.floating], source_rate: int, cfg: LogMelConfig) -> Frames:
    """Whole-recording features; raises ``InputTooShortError`` when not one frame fits."""
    stream = LogMelStream(cfg, source_rate)
    frames = np.concatenate([stream.push(samples), stream.flush()])
    if len(frames) == 0:
        need_s = cfg.n_fft / cfg.sample_rate
        raise InputTooShortError(
            f"audio too short: {len(samples)} samples at {source_rate} Hz; one frame needs {need_s * 1000:.0f} ms"
        )
    return frames
