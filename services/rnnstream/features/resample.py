"""A streaming polyphase resampler whose output does not depend on how the input is cut.

``scipy.signal.resample_poly`` (and librosa's default soxr) resample a whole signal; fed piece by piece they
give different samples at the seams. Here every output sample ``y[n]`` is one fixed dot product::

    y[n] = sum_k x[k] * h[n*down + half - k*up]

with the same Kaiser-windowed low-pass ``h`` that ``resample_poly`` designs, the signal taken as zero
before its start and (at ``flush``) after its end. An output is emitted as soon as every input it needs has
arrived, so pushing the samples in any pieces yields the samples of one whole-signal pass (and those agree
with ``resample_poly`` to rounding).
"""

from __future__ import annotations

from math import gcd

import numpy as np
from numpy.typing import NDArray
from scipy.signal import firwin

Float = NDArray[np.float64]


class StreamingResampler:
    """Resample ``orig_sr`` → ``target_sr`` incrementally."""

    def __init__(self, orig_sr: int, target_sr: int) -> None:
        if orig_sr <= 0 or target_sr <= 0:
            raise ValueError("sample rates must be positive")
        g = gcd(orig_sr, target_sr)
        self.up, self.down = target_sr // g, orig_sr // g
        self.identity = self.up == self.down
        if not self.identity:
            max_rate = max(self.up, self.down)
            self._half = 10 * max_rate
            taps = firwin(2 * self._half + 1, 1.0 / max_rate, window=("kaiser", 5.0)) * self.up
            self._taps_per_phase = -(-len(taps) // self.up)
            padded = np.zeros(self._taps_per_phase * self.up)
            padded[: len(taps)] = taps
            # poly[phase, j] = h[phase + j*up]: the taps applied to x[k_max - j].
            self._poly = padded.reshape(self._taps_per_phase, self.up).T.copy()
        else:
            self._half, self._taps_per_phase = 0, 1
            self._poly = np.ones((1, 1))
        # Buffer of input samples; index 0 holds absolute sample ``_buf_start`` (zeros before the start).
        self._buf: Float = np.zeros(self._taps_per_phase)
        self._buf_start = -self._taps_per_phase
        self._n_in = 0
        self._next_out = 0
        self._finished = False

    def push(self, samples: NDArray[np.floating]) -> Float:
        """Feed mono samples; returns the output samples that became complete."""
        if self._finished:
            raise ValueError("resampler already flushed")
        x = np.asarray(samples, dtype=np.float64).reshape(-1)
        if self.identity:
            self._n_in += len(x)
            return x.copy()
        self._buf = np.concatenate([self._buf, x])
        self._n_in += len(x)
        numerator = self._n_in * self.up - 1 - self._half
        n_end = numerator // self.down + 1 if numerator >= 0 else 0
        return self._emit(n_end)

    def flush(self) -> Float:
        """End of input: returns the remaining outputs (the signal is taken as zero past its end)."""
        if self._finished:
            return np.zeros(0)
        self._finished = True
        if self.identity:
            return np.zeros(0)
        n_total = -(-self._n_in * self.up // self.down)
        self._buf = np.concatenate([self._buf, np.zeros(self._taps_per_phase + self._half // self.up + 2)])
        return self._emit(n_total)

    def _emit(self, n_end: int) -> Float:
        n = np.arange(self._next_out, max(n_end, self._next_out), dtype=np.int64)
        if len(n) == 0:
            return np.zeros(0)
        pos = n * self.down + self._half
        phase, k_max = pos % self.up, pos // self.up
        idx = k_max[:, None] - np.arange(self._taps_per_phase)[None, :] - self._buf_start
        out: Float = np.einsum("nj,nj->n", self._poly[phase], self._buf[idx])
        self._next_out = int(n[-1]) + 1
        # Drop input no later output can need.
        next_pos = self._next_out * self.down + self._half
        keep_from = next_pos // self.up - self._taps_per_phase + 1 - self._buf_start
        if keep_from > 0:
            self._buf = self._buf[keep_from:]
            self._buf_start += keep_from
        return out
