"""Endpointing: cut a continuous stream of log-mel frames into utterances by voice activity.

Pure and streaming: :func:`endpoint` takes the frames that arrived, the detector's state (a few NumPy arrays,
stored in the stream's record beside ``h``/``c``) and returns the segments to feed the model plus the new
state. Cutting the frames into any pieces gives the same segments (merged) as one whole pass; a unit test
checks it.

The detector is energy based. A frame's energy is ``10 log10`` of its mel power; the noise floor follows the
quietest recent frames (it drops at once to a quieter frame and rises slowly, ``floor_rise_db`` per frame,
while no utterance is open). The rules, in the spirit of sherpa-onnx's endpointing:

* an utterance **starts** after ``onset_frames`` consecutive frames louder than floor + ``onset_db``; its
  start is the first of them. The model gets ``preroll_frames`` more frames from before the start (the
  quiet lead-in it was trained with) and starts from zero state;
* while it is open, frames louder than floor + ``offset_db`` are speech; quieter frames are held back;
* it **ends** after ``trailing_silence_frames`` quiet frames in a row (trailing silence after speech), at
  ``max_utterance_frames`` frames, or when the stream ends. Its end is the end of its last speech frame, or
  of the last held quiet frame still ``tail_db`` above the floor (a weak final /s/ after a stop's closure);
  of the held frames the model gets those up to that end, at least ``postroll_frames``. One final
  prediction follows;
* silence alone never opens an utterance (sherpa-onnx's "silence with nothing decoded" rule has nothing to
  cut here: no model runs until speech starts).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

Frames = NDArray[np.float32]

_FLOAT_STATE = "vad.f"
_INT_STATE = "vad.i"
_HELD = "vad.held"
STATE_NAMES = (_FLOAT_STATE, _INT_STATE, _HELD)

# layout of the int64 state vector
_IN_UTT, _NEXT_INDEX, _START, _LAST_SPEECH, _RUN, _SILENCE, _POS, _FED = range(8)
_N_INTS = 8


@dataclass(frozen=True)
class EndpointConfig:
    """The detector's thresholds and the rules' lengths, in frames (see the module docstring)."""

    onset_db: float = 7.0
    offset_db: float = 6.0
    lookback_db: float = 1.0
    tail_db: float | None = 5.0
    onset_frames: int = 3
    preroll_frames: int = 10
    postroll_frames: int = 10
    trailing_silence_frames: int = 25
    max_utterance_frames: int = 2000
    floor_adapt: float = 0.05

    def __post_init__(self) -> None:
        for name in ("onset_frames", "trailing_silence_frames", "max_utterance_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        for name in ("preroll_frames", "postroll_frames"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.postroll_frames > self.trailing_silence_frames:
            raise ValueError("postroll_frames must not exceed trailing_silence_frames")
        if self.onset_db < self.offset_db:
            raise ValueError("onset_db must be >= offset_db")


@dataclass
class Segment:
    """Frames for the model, all of one utterance.

    ``opens``: the utterance starts here (the model starts from zero state); ``closes``: it ends with these
    frames (its final prediction follows them; ``frames`` may then be empty). ``start_frame``/``end_frame``:
    the utterance's first speech frame and its last speech frame so far (end exclusive), as frame indices of
    the stream.
    """

    index: int
    frames: Frames
    opens: bool
    closes: bool
    start_frame: int
    end_frame: int


@dataclass
class EndpointResult:
    segments: list[Segment] = field(default_factory=list)
    state: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def open_utterance(self) -> bool:
        """An utterance is still open after these frames."""
        return bool(self.state[_INT_STATE][_IN_UTT])


def initial_state(width: int) -> dict[str, np.ndarray]:
    """The state of a stream that has seen no frame."""
    ints = np.zeros(_N_INTS, np.int64)
    return {
        _FLOAT_STATE: np.zeros(BANDS + 1, np.float64),
        _INT_STATE: ints,
        _HELD: np.zeros((0, width), np.float32),
    }


def check_state(state: Mapping[str, np.ndarray], width: int) -> None:
    """Raise ``ValueError`` unless ``state`` is a detector state for frames of ``width`` features."""
    f, i, held = state.get(_FLOAT_STATE), state.get(_INT_STATE), state.get(_HELD)
    if f is None or i is None or held is None:
        raise ValueError(f"an endpointing state needs {', '.join(STATE_NAMES)}")
    if f.shape != (BANDS + 1,) or f.dtype != np.float64 or i.shape != (_N_INTS,) or i.dtype != np.int64:
        raise ValueError("endpointing state has the wrong shape or dtype")
    if held.ndim != 2 or held.shape[1] != width or held.dtype != np.float32:
        raise ValueError(f"endpointing state holds frames of shape {held.shape}, not [n, {width}]")


BANDS = 4


def band_energy_db(frames: Frames, bands: int = BANDS) -> NDArray[np.float64]:
    """Energy of each log-mel frame in ``bands`` groups of adjacent mel bins, in dB: ``[T, bands]``."""
    x = frames.astype(np.float64)
    groups = np.array_split(np.arange(x.shape[1]), bands)
    out = np.empty((x.shape[0], len(groups)))
    for g, idx in enumerate(groups):
        part = x[:, idx]
        top = part.max(axis=1, keepdims=True)
        out[:, g] = top[:, 0] + np.log(np.exp(part - top).sum(axis=1))  # log-sum-exp, no overflow
    energy: NDArray[np.float64] = out * (10.0 / np.log(10.0))
    return energy


class _Builder:
    """Collects the frames to feed, as segments, while the per-frame rules run."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.segments: list[Segment] = []
        self._parts: list[Frames] = []
        self._current: Segment | None = None

    def feed(self, frames: Frames, index: int, opens: bool, start: int, end: int) -> None:
        if self._current is None or self._current.index != index:
            self._finish()
            self._current = Segment(index, np.zeros((0, self.width), np.float32), opens, False, start, end)
        self._current.end_frame = end
        if len(frames):
            self._parts.append(frames)

    def close(self, index: int, start: int, end: int) -> None:
        self.feed(np.zeros((0, self.width), np.float32), index, False, start, end)
        assert self._current is not None
        self._current.closes = True
        self._finish()

    def _finish(self) -> None:
        if self._current is not None:
            if self._parts:
                self._current.frames = np.concatenate(self._parts)
            self.segments.append(self._current)
        self._current, self._parts = None, []

    def result(self) -> list[Segment]:
        self._finish()
        return self.segments


def endpoint(
    frames: Frames, state: Mapping[str, np.ndarray], config: EndpointConfig, *, end: bool = False
) -> EndpointResult:
    """Run the rules over ``frames`` (``[T, F]``, the stream's next frames) from ``state``; ``end``: the
    stream ends after them (an open utterance closes)."""
    width = frames.shape[1] if frames.ndim == 2 else 0
    held = np.asarray(state[_HELD], np.float32)
    width = held.shape[1] if held.ndim == 2 and held.shape[1] else width
    fl = np.array(state[_FLOAT_STATE], np.float64)
    ints = np.array(state[_INT_STATE], np.int64)
    floor, started = fl[:BANDS].copy(), bool(fl[BANDS])
    in_utt, next_index, start, last_speech = (
        bool(ints[_IN_UTT]),
        int(ints[_NEXT_INDEX]),
        int(ints[_START]),
        int(ints[_LAST_SPEECH]),
    )
    run, silence, pos, fed = int(ints[_RUN]), int(ints[_SILENCE]), int(ints[_POS]), int(ints[_FED])
    pending: list[Frames] = [held] if len(held) else []  # the held frames, as one list
    n_pending = len(held)
    out = _Builder(width)
    energies = band_energy_db(frames) if len(frames) else np.zeros((0, BANDS))
    keep_ring = config.preroll_frames + config.onset_frames

    def take(n: int) -> Frames:
        nonlocal pending, n_pending
        allf = (
            np.concatenate(pending)
            if len(pending) > 1
            else (pending[0] if pending else np.zeros((0, width), np.float32))
        )
        first, rest = allf[:n], allf[n:]
        pending = [rest] if len(rest) else []
        n_pending = len(rest)
        return first

    def close(index: int) -> None:
        """End the open utterance: the held quiet frames that follow its last speech frame are the trailing
        silence; a weak word ending in them (a final /s/ after a stop's closure) still belongs to the word
        when it is ``tail_db`` above the floor. The model gets the post-roll after that end."""
        nonlocal last_speech
        held_now = take(n_pending)  # held_now[i] is the stream's frame last_speech + i
        extra = 0
        if len(held_now) and config.tail_db is not None:
            loud = np.flatnonzero(np.max(band_energy_db(held_now) - floor, axis=1) > config.tail_db)
            extra = int(loud[-1]) + 1 if len(loud) else 0
        last_speech += extra
        out.feed(held_now[: max(extra, config.postroll_frames)], index, False, start, last_speech)
        out.close(index, start, last_speech)

    for t in range(len(frames)):
        e = energies[t]
        frame = frames[t : t + 1]
        if not started:
            floor, started = e.copy(), True
        above = float(np.max(e - floor))
        if not in_utt:
            if above > config.onset_db:
                run += 1
            else:
                run = 0
                floor = floor + config.floor_adapt * (e - floor)
            pending.append(frame)
            n_pending += 1
            if n_pending > keep_ring:
                take(n_pending - keep_ring)
            if run >= config.onset_frames:
                in_utt, index = True, next_index
                next_index += 1
                start, last_speech, silence = pos - config.onset_frames + 1, pos + 1, 0
                lead = take(n_pending)
                # the weak start of a word (a fricative, say) is quieter than the onset threshold: walk back
                # over the lead-in while it stays above the floor by ``lookback_db``
                before = lead[: len(lead) - config.onset_frames]
                if len(before):
                    quiet = np.max(band_energy_db(before) - floor, axis=1) <= config.lookback_db
                    loud_tail = (
                        len(before) if not quiet.any() else len(before) - 1 - int(np.flatnonzero(quiet)[-1])
                    )
                    start -= loud_tail
                fed = len(lead)
                out.feed(lead, index, True, start, last_speech)
                run = 0
        else:
            index = next_index - 1
            if above > config.offset_db:
                resumed = take(n_pending) if n_pending else frame[:0]
                both = np.concatenate([resumed, frame]) if len(resumed) else frame
                silence, last_speech = 0, pos + 1
                fed += len(both)
                out.feed(both, index, False, start, last_speech)
            else:
                silence += 1
                pending.append(frame)
                n_pending += 1
                if silence >= config.trailing_silence_frames:
                    close(index)
                    in_utt, run, silence, fed = False, 0, 0, 0
            if in_utt and fed + n_pending >= config.max_utterance_frames:
                rest = take(n_pending)
                out.feed(rest, index, False, start, pos + 1)
                out.close(index, start, pos + 1)
                in_utt, run, silence, fed = False, 0, 0, 0
        pos += 1
    if end and in_utt:
        close(next_index - 1)
        in_utt, silence, fed = False, 0, 0
    held_out = np.concatenate(pending) if pending else np.zeros((0, width), np.float32)
    new_ints = np.array([int(in_utt), next_index, start, last_speech, run, silence, pos, fed], np.int64)
    new_state: dict[str, np.ndarray] = {
        _FLOAT_STATE: np.array([*floor, float(started)], np.float64),
        _INT_STATE: new_ints,
        _HELD: np.ascontiguousarray(held_out, dtype=np.float32),
    }
    return EndpointResult(out.result(), new_state)
