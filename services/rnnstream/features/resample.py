"""A streaming polyphase resampler whose output does not depend on how the input is cut.

``scipy.signal.resample_poly`` (and librosa's default soxr) resample a whole signal; fed piece by piece they
give different samples at the seams. Here every output sample ``y[n]`` is one fixed dot product::

    y[n] = sum_k x[k] * h[n*down + half - k*up]

with the same Kaiser-windowed low-pass ``h`` that ``resample_poly`` designs (built here with numpy, so the
worker needs no scipy), the signal taken as zero before its start and (at ``flush``) after its end. An
output is emitted as soon as every input it needs has arrived, so pushing the samples in any pieces yields
the samples of one whole-signal pass (and those agree with ``resample_poly`` to rounding).

The resampler keeps only the input later outputs need (fewer than one phase's taps), and ``state`` /
``from_state`` turn that into a few numpy arrays and back, so another process can continue a stream.
"""

from __future__ import annotations

from functools import lru_cache
from math import gcd
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

Float = NDArray[np.float64]


@lru_cache(maxsize=32)
def lowpass_taps(orig_sr: int, target_sr: int) -> Float:
    """The anti-aliasing low-pass for ``orig_sr`` → ``target_sr``, summing to 1 (read-only, cached).

    What ``resample_poly`` uses: ``firwin(2*half + 1, 1/max(up, down), window=("kaiser", 5.0))`` with
    ``half = 10*max(up, down)``, i.e. a windowed sinc. 44.1 kHz → 8 kHz needs 8,821 taps.
    """
    g = gcd(orig_sr, target_sr)
    max_rate = max(orig_sr, target_sr) // g
    if max_rate == 1:
        taps: Float = np.ones(1)
    else:
        numtaps = 20 * max_rate + 1
        cutoff = 1.0 / max_rate  # relative to the Nyquist frequency
        m = np.arange(numtaps) - (numtaps - 1) / 2
        taps = cutoff * np.sinc(cutoff * m) * np.kaiser(numtaps, 5.0)
        taps /= taps.sum()
    taps.setflags(write=False)
    return taps


@lru_cache(maxsize=32)
def _polyphase(orig_sr: int, target_sr: int) -> Float:
    """``poly[phase, j] = up * h[phase + j*up]``: the taps applied to ``x[k_max - j]`` (read-only, cached)."""
    up = target_sr // gcd(orig_sr, target_sr)
    taps = lowpass_taps(orig_sr, target_sr) * up
    taps_per_phase = -(-len(taps) // up)
    padded = np.zeros(taps_per_phase * up)
    padded[: len(taps)] = taps
    poly = padded.reshape(taps_per_phase, up).T.copy()
    poly.setflags(write=False)
    return poly


def check_state_keys(keys: set[str], expected: set[str], what: str) -> None:
    """``ValueError`` unless a state has exactly the ``expected`` keys."""
    if keys != expected:
        raise ValueError(
            f"{what} state: missing keys {sorted(expected - keys)}, unexpected keys {sorted(keys - expected)}"
        )


def state_array(state: dict[str, np.ndarray], key: str, dtype: DTypeLike, ndim: int) -> NDArray[Any]:
    """``state[key]``, checked to be an array (or numpy scalar) of ``dtype`` with ``ndim`` dimensions (else
    ``ValueError``)."""
    value = state[key]
    if isinstance(value, np.generic):
        value = np.asarray(value)
    want = np.dtype(dtype)
    if not isinstance(value, np.ndarray) or value.dtype != want or value.ndim != ndim:
        got = f"{value.dtype} array of shape {value.shape}" if isinstance(value, np.ndarray) else type(value)
        raise ValueError(f"state {key!r}: expected a {ndim}-d {want} array, got {got}")
    return value


class StreamingResampler:
    """Resample ``orig_sr`` → ``target_sr`` incrementally."""

    STATE_KEYS = frozenset({"rates", "n_in", "next_out", "finished", "buffer"})

    def __init__(self, orig_sr: int, target_sr: int) -> None:
        if orig_sr <= 0 or target_sr <= 0:
            raise ValueError("sample rates must be positive")
        self.orig_sr, self.target_sr = orig_sr, target_sr
        g = gcd(orig_sr, target_sr)
        self.up, self.down = target_sr // g, orig_sr // g
        self.identity = self.up == self.down
        self._poly = _polyphase(orig_sr, target_sr)
        self._taps_per_phase = int(self._poly.shape[1])
        self._half = 0 if self.identity else 10 * max(self.up, self.down)
        self._n_in = 0
        self._next_out = 0
        self._finished = False
        # Input samples from absolute index ``_buf_start`` (negative: zeros before the start) to ``_n_in``;
        # ``_buf_start`` is always the first input the next output needs.
        self._buf_start = self._first_needed(0)
        self._buf: Float = np.zeros(-self._buf_start)

    @property
    def finished(self) -> bool:
        """Whether ``flush`` was called."""
        return self._finished

    @property
    def samples_out(self) -> int:
        """How many output samples were returned so far."""
        return self._next_out

    def _first_needed(self, n: int) -> int:
        """The first input sample output ``n`` depends on."""
        return (n * self.down + self._half) // self.up - self._taps_per_phase + 1

    def _ready(self, n_in: int) -> int:
        """How many outputs the first ``n_in`` inputs determine (before the end of the input is known)."""
        if self.identity:
            return n_in
        numerator = n_in * self.up - 1 - self._half
        return numerator // self.down + 1 if numerator >= 0 else 0

    def _total(self, n_in: int) -> int:
        """How many outputs a signal of ``n_in`` inputs has in all."""
        return -(-n_in * self.up // self.down)

    def push(self, samples: NDArray[np.floating]) -> Float:
        """Feed mono samples; returns the output samples that became complete."""
        if self._finished:
            raise ValueError("resampler already flushed")
        x = np.asarray(samples, dtype=np.float64).reshape(-1)
        self._n_in += len(x)
        if self.identity:
            self._next_out = self._n_in
            return x.copy()
        self._buf = np.concatenate([self._buf, x])
        return self._emit(self._ready(self._n_in))

    def flush(self) -> Float:
        """End of input: returns the remaining outputs (the signal is taken as zero past its end)."""
        if self._finished:
            return np.zeros(0)
        self._finished = True
        if self.identity:
            return np.zeros(0)
        self._buf = np.concatenate([self._buf, np.zeros(self._taps_per_phase + self._half // self.up + 2)])
        out = self._emit(self._total(self._n_in))
        self._buf = np.zeros(0)  # nothing more can be asked for
        self._buf_start = self._n_in
        return out

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
        keep_from = self._first_needed(self._next_out) - self._buf_start
        if keep_from > 0:
            self._buf = self._buf[keep_from:].copy()
            self._buf_start += keep_from
        return out

    def state(self) -> dict[str, np.ndarray]:
        """What later outputs depend on, as numpy arrays (copies).

        ``rates`` (int64 [2]: orig, target), ``n_in``, ``next_out`` (int64 []: inputs taken, outputs given),
        ``finished`` (int64 [], 0 or 1) and ``buffer`` (float64: the input still needed, the newest last).
        """
        return {
            "rates": np.array([self.orig_sr, self.target_sr], dtype=np.int64),
            "n_in": np.array(self._n_in, dtype=np.int64),
            "next_out": np.array(self._next_out, dtype=np.int64),
            "finished": np.array(int(self._finished), dtype=np.int64),
            "buffer": self._buf.copy(),
        }

    @classmethod
    def from_state(cls, orig_sr: int, target_sr: int, state: dict[str, np.ndarray]) -> StreamingResampler:
        """The resampler ``state()`` was taken from; ``ValueError`` when ``state`` is not such a state."""
        check_state_keys(set(state), set(cls.STATE_KEYS), "resampler")
        rates = state_array(state, "rates", np.int64, 1).tolist()
        if rates != [orig_sr, target_sr]:
            raise ValueError(f"resampler state is for {rates} Hz, not [{orig_sr}, {target_sr}]")
        n_in = int(state_array(state, "n_in", np.int64, 0))
        next_out = int(state_array(state, "next_out", np.int64, 0))
        finished = int(state_array(state, "finished", np.int64, 0))
        buffer = state_array(state, "buffer", np.float64, 1)
        r = cls(orig_sr, target_sr)
        if n_in < 0 or finished not in (0, 1):
            raise ValueError(f"resampler state: bad counters n_in={n_in}, finished={finished}")
        want_out = r._total(n_in) if finished else r._ready(n_in)
        if next_out != want_out:
            raise ValueError(f"resampler state: next_out={next_out}, but {n_in} inputs give {want_out}")
        want_len = 0 if finished or r.identity else n_in - r._first_needed(next_out)
        if len(buffer) != want_len:
            raise ValueError(f"resampler state: buffer holds {len(buffer)} samples, expected {want_len}")
        r._n_in, r._next_out, r._finished = n_in, next_out, bool(finished)
        r._buf = buffer.copy()
        r._buf_start = n_in - len(buffer)
        return r
