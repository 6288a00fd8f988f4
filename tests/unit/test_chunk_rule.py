"""The per-chunk rule, row by row of the table in docs/architecture.md."""

from __future__ import annotations

import numpy as np
import pytest

from rnnstream.core.chunk_rule import (
    Decision,
    GapPolicy,
    Outcome,
    RejectReason,
    decide,
    next_record,
    starting_state,
)
from rnnstream.core.records import StreamRecord

ALL_POLICIES = list(GapPolicy)


def live(seq: int = 5) -> StreamRecord:
    h = np.arange(6, dtype=np.float32).reshape(2, 3)
    return StreamRecord(seq=seq, steps_seen=40, chunks=seq + 1, gaps=1, updated_at_ms=1000, tensors={"h": h})


def tombstone(seq: int = 7) -> StreamRecord:
    return StreamRecord(seq=seq, ended=True, steps_seen=80, chunks=seq + 1, updated_at_ms=2000)


# (record, seq, start, policy) -> (outcome, gap, reason)
ROWS = [
    # any record, seq <= last: duplicate, whatever the flags and the policy
    *[(live(), s, st, p, Outcome.DUPLICATE, False, None) for s in (0, 3, 5) for st in (False, True)
      for p in ALL_POLICIES],
    # late duplicates after the end
    *[(tombstone(), s, st, p, Outcome.DUPLICATE, False, None) for s in (0, 7) for st in (False, True)
      for p in ALL_POLICIES],
    # no record, seq 0 or start: fresh
    *[(None, 0, st, p, Outcome.FRESH, False, None) for st in (False, True) for p in ALL_POLICIES],
    *[(None, 9, True, p, Outcome.FRESH, False, None) for p in ALL_POLICIES],
    # live, next seq: advance; with start: fresh (producer restarting)
    *[(live(), 6, False, p, Outcome.ADVANCE, False, None) for p in ALL_POLICIES],
    *[(live(), 6, True, p, Outcome.FRESH, False, None) for p in ALL_POLICIES],
    # live, gap: by policy
    (live(), 8, False, GapPolicy.SKIP, Outcome.ADVANCE, True, None),
    (live(), 8, False, GapPolicy.RESET, Outcome.FRESH, True, None),
    (live(), 8, False, GapPolicy.REJECT, Outcome.REJECT, True, RejectReason.GAP),
    # live, start past a gap: a restart, fresh whatever the policy (not a gap)
    *[(live(), 8, True, p, Outcome.FRESH, False, None) for p in ALL_POLICIES],
    # no record (unknown or expired), seq > 0 without start: gap; skip and reset start from zero
    (None, 3, False, GapPolicy.SKIP, Outcome.FRESH, True, None),
    (None, 3, False, GapPolicy.RESET, Outcome.FRESH, True, None),
    (None, 3, False, GapPolicy.REJECT, Outcome.REJECT, True, RejectReason.GAP),
    # ended, seq > last: after_end, whatever the flags and the policy
    *[(tombstone(), s, st, p, Outcome.REJECT, False, RejectReason.AFTER_END) for s in (8, 12)
      for st in (False, True) for p in ALL_POLICIES],
]  # fmt: skip


@pytest.mark.parametrize(("record", "seq", "start", "policy", "outcome", "gap", "reason"), ROWS)
@pytest.mark.parametrize("end", [False, True])
def test_table(
    record: StreamRecord | None,
    seq: int,
    start: bool,
    policy: GapPolicy,
    outcome: Outcome,
    gap: bool,
    reason: RejectReason | None,
    end: bool,
) -> None:
    decision = decide(record, seq, start=start, end=end, policy=policy)
    accepted = outcome in (Outcome.FRESH, Outcome.ADVANCE)
    assert decision == Decision(
        outcome=outcome,
        seq=seq,
        expected_seq=None if record is None else record.seq,
        gap=gap,
        final=end and accepted,
        reason=reason,
    )
    assert decision.accepted is accepted


def test_policy_accepts_plain_strings() -> None:
    assert decide(live(), 9, start=False, end=False, policy=GapPolicy("reset")).outcome is Outcome.FRESH
    assert decide(None, 2, False, False, "reject").reason is RejectReason.GAP  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        decide(None, 2, False, False, "drop")  # type: ignore[arg-type]


def test_negative_seq_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="seq"):
        decide(None, -1, start=True, end=False, policy=GapPolicy.SKIP)


def test_starting_state() -> None:
    record = live()
    advance = decide(record, 6, start=False, end=False, policy=GapPolicy.SKIP)
    state = starting_state(advance, record)
    assert state is not None
    np.testing.assert_array_equal(state["h"], record.tensors["h"])
    assert starting_state(decide(record, 6, True, False, GapPolicy.SKIP), record) is None
    assert starting_state(decide(None, 0, False, False, GapPolicy.SKIP), None) is None
    with pytest.raises(ValueError, match="does not run"):
        starting_state(decide(record, 5, False, False, GapPolicy.SKIP), record)


def test_next_record_advance_accumulates_counters() -> None:
    record = live()
    decision = decide(record, 8, start=False, end=False, policy=GapPolicy.SKIP)
    new_h = np.full((2, 3), 0.5, dtype=np.float32)
    nxt = next_record(decision, record, {"h": new_h}, steps=7, now_ms=5000)
    expected = StreamRecord(seq=8, steps_seen=47, chunks=7, gaps=2, updated_at_ms=5000, tensors={"h": new_h})
    assert nxt == expected


def test_next_record_fresh_stream() -> None:
    decision = decide(None, 0, start=True, end=False, policy=GapPolicy.REJECT)
    h = np.ones((1, 4), dtype=np.float32)
    nxt = next_record(decision, None, {"h": h, "c": h * 2}, steps=3, now_ms=10)
    assert nxt == StreamRecord(seq=0, steps_seen=3, chunks=1, updated_at_ms=10, tensors={"h": h, "c": h * 2})


def test_restart_starts_counters_from_zero() -> None:
    record = live()
    decision = decide(record, 6, start=True, end=False, policy=GapPolicy.SKIP)
    h = np.zeros((2, 3), dtype=np.float32)
    nxt = next_record(decision, record, {"h": h}, steps=2, now_ms=3000)
    assert (nxt.seq, nxt.chunks, nxt.steps_seen, nxt.gaps) == (6, 1, 2, 0)


def test_end_makes_a_tombstone() -> None:
    record = live()
    decision = decide(record, 6, start=False, end=True, policy=GapPolicy.SKIP)
    assert decision.final
    nxt = next_record(decision, record, {"h": np.ones((2, 3), dtype=np.float32)}, steps=4, now_ms=9000)
    assert nxt == StreamRecord(seq=6, ended=True, steps_seen=44, chunks=7, gaps=1, updated_at_ms=9000)
    assert dict(nxt.tensors) == {}
    # and the tombstone recognises late duplicates, then rejects anything after the end
    assert decide(nxt, 6, False, False, GapPolicy.SKIP).outcome is Outcome.DUPLICATE
    assert decide(nxt, 7, False, False, GapPolicy.SKIP).reason is RejectReason.AFTER_END


def test_single_chunk_stream() -> None:
    decision = decide(None, 0, start=True, end=True, policy=GapPolicy.SKIP)
    assert decision.outcome is Outcome.FRESH and decision.final
    assert next_record(decision, None, {}, steps=5, now_ms=1).ended


@pytest.mark.parametrize("outcome_seq", [5, 8])
def test_next_record_refuses_unaccepted_decisions(outcome_seq: int) -> None:
    record = tombstone(7)
    decision = decide(record, outcome_seq, False, False, GapPolicy.SKIP)
    with pytest.raises(ValueError, match="untouched"):
        next_record(decision, record, {}, steps=1, now_ms=1)


def test_next_record_checks_the_previous_record() -> None:
    decision = decide(live(5), 6, False, False, GapPolicy.SKIP)
    with pytest.raises(ValueError, match="previous record"):
        next_record(decision, live(6), {}, steps=1, now_ms=1)


def test_record_is_a_value() -> None:
    h = np.zeros((1, 2), dtype=np.float32)
    record = StreamRecord(seq=1, tensors={"h": h})
    assert record.tensors["h"] is h  # taken over, not copied
    with pytest.raises(ValueError, match="read-only"):
        h[0, 0] = 9.0  # ... and frozen for its giver too
    assert record.tensors["h"][0, 0] == 0.0
    assert not record.tensors["h"].flags.writeable
    with pytest.raises(TypeError):
        record.tensors["c"] = h  # type: ignore[index]
    assert record == StreamRecord(seq=1, tensors={"h": h.copy()})
    assert record != StreamRecord(seq=1, tensors={"h": np.ones((1, 2), dtype=np.float32)})
    assert record != StreamRecord(seq=1, tensors={"h": np.zeros((1, 2), dtype=np.float64)})
    nan = np.array([[np.nan]], dtype=np.float32)
    assert StreamRecord(seq=1, tensors={"h": nan}) == StreamRecord(seq=1, tensors={"h": nan.copy()})


@pytest.mark.parametrize(
    "kwargs",
    [{"seq": -1}, {"seq": 0, "chunks": -1}, {"seq": 0, "ended": True, "tensors": {"h": np.zeros(1)}}],
)
def test_record_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        StreamRecord(**kwargs)  # type: ignore[arg-type]
