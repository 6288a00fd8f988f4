"""The endpointer: any cutting of the frames gives the same utterances; the rules cut where they say."""

from __future__ import annotations

import numpy as np
import pytest

from rnnstream.core.endpointing import STATE_NAMES, EndpointConfig, Segment, endpoint, initial_state

RULES = EndpointConfig(
    trailing_silence_frames=10, postroll_frames=3, preroll_frames=4, max_utterance_frames=60
)


def _frames(pattern: list[tuple[int, bool]], rng: np.random.Generator) -> np.ndarray:
    """Log-mel-like frames: quiet noise, and loud runs where ``True``."""
    rows = []
    for n, loud in pattern:
        level = 0.0 if loud else -12.0
        rows.append(rng.normal(level, 0.3, (n, 40)))
    return np.concatenate(rows).astype(np.float32)


def _run(frames: np.ndarray, cuts: list[int], config: EndpointConfig = RULES) -> list[Segment]:
    state = initial_state(40)
    out: list[Segment] = []
    start = 0
    for i, end in enumerate([*cuts, len(frames)]):
        res = endpoint(frames[start:end], {k: v.copy() for k, v in state.items()}, config, end=i == len(cuts))
        out.extend(res.segments)
        state = res.state
        start = end
    return out


def _utterances(segments: list[Segment]) -> list[tuple[int, int, int, bool, bytes]]:
    merged: dict[int, list[Segment]] = {}
    for s in segments:
        merged.setdefault(s.index, []).append(s)
    return [
        (
            i,
            parts[0].start_frame,
            parts[-1].end_frame,
            parts[-1].closes,
            np.concatenate([p.frames for p in parts]).tobytes(),
        )
        for i, parts in sorted(merged.items())
    ]


def test_any_cutting_gives_the_utterances_of_one_pass() -> None:
    rng = np.random.default_rng(0)
    frames = _frames(
        [(30, False), (25, True), (5, False), (20, True), (40, False), (15, True), (30, False)], rng
    )
    whole = _utterances(_run(frames, []))
    assert len(whole) == 2 and all(closed for *_, closed, _ in whole)
    for _ in range(20):
        cuts = sorted(set(rng.integers(1, len(frames), int(rng.integers(1, 40))).tolist()))
        assert _utterances(_run(frames, cuts)) == whole
    assert _utterances(_run(frames, list(range(1, len(frames))))) == whole


def test_the_rules() -> None:
    rng = np.random.default_rng(1)
    # a pause shorter than the trailing silence keeps one utterance; a longer one cuts two
    frames = _frames([(20, False), (10, True), (5, False), (10, True), (30, False)], rng)
    [(index, start, end, closed, fed)] = _utterances(_run(frames, []))
    assert (index, closed) == (0, True) and abs(start - 20) <= 1 and end == 45
    n_fed = len(fed) // (40 * 4)
    assert n_fed == 4 + (45 - start) + 3  # pre-roll, speech (with the short pause), post-roll
    # silence alone never opens an utterance
    assert _run(_frames([(200, False)], rng), []) == []
    # an utterance that goes on is ended at max_utterance_frames, and the next one starts
    long = _utterances(_run(_frames([(10, False), (150, True), (20, False)], rng), []))
    assert len(long) >= 2 and all(closed for *_, closed, _ in long)
    # the stream's end closes an open utterance
    cut = _utterances(_run(_frames([(10, False), (20, True)], rng), []))
    assert len(cut) == 1 and cut[0][3]


def test_the_state_is_a_few_arrays_a_record_can_hold() -> None:
    res = endpoint(_frames([(30, False), (12, True)], np.random.default_rng(2)), initial_state(40), RULES)
    assert set(res.state) == set(STATE_NAMES) and res.open_utterance
    assert {a.dtype.str for a in res.state.values()} <= {"<f8", "<i8", "<f4"}


def test_bad_rules_are_refused() -> None:
    with pytest.raises(ValueError):
        EndpointConfig(postroll_frames=30, trailing_silence_frames=10)
    with pytest.raises(ValueError):
        EndpointConfig(onset_db=3.0, offset_db=5.0)
