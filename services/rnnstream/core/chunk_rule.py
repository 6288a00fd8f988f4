"""The per-chunk rule: what happens to one chunk of a stream, given the stream's stored record.

Pure: values in, values out; no I/O. The table this implements is in ``docs/architecture.md``:

==========================  =========================  ==============================================
stored record               event                      outcome
==========================  =========================  ==============================================
any, ``seq <= last``        any                        DUPLICATE (state untouched)
none                        ``seq == 0`` or ``start``  FRESH (zero state)
live, ``seq == last + 1``   not ``start``              ADVANCE from the stored state
live, ``seq > last``        ``start``                  FRESH (a producer restarting the stream; no gap)
live, ``seq > last + 1``    not ``start``              gap: ``skip`` ADVANCE, ``reset`` FRESH,
                                                       ``reject`` REJECT(``gap``)
none, ``seq > 0``           not ``start``              gap: ``skip``/``reset`` FRESH, ``reject``
                                                       REJECT(``gap``)
ended (tombstone)           ``seq > last``             REJECT(``after_end``)
==========================  =========================  ==============================================

An accepted chunk with ``end`` is *final*: its next record is a tombstone (seq and counters, no tensors).

A FRESH chunk starts a new utterance: zero state and counters from zero. ``chunks``/``steps_seen``
count accepted chunks and their steps since then;
``gaps`` counts chunks accepted across a gap. Duplicates and rejections leave the record untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from rnnstream.core.records import EMPTY_TENSORS, StreamRecord


class GapPolicy(StrEnum):
    """What to do with a chunk that arrives after a missing one."""

    SKIP = "skip"
    RESET = "reset"
    REJECT = "reject"


class Outcome(StrEnum):
    """What the rule decided for a chunk."""

    FRESH = "fresh"
    ADVANCE = "advance"
    DUPLICATE = "duplicate"
    REJECT = "reject"


class RejectReason(StrEnum):
    """Why a chunk was rejected; the dead-letter reason."""

    GAP = "gap"
    AFTER_END = "after_end"
    BAD_PCM = "bad_pcm"  # decided with the stream's front-end state (a PCM format that changed mid-stream)


@dataclass(frozen=True)
class Decision:
    """The rule's verdict for one chunk.

    ``expected_seq`` is the seq of the stored record the decision was made from (``None``: no record);
    the state write for an accepted chunk is fenced on it. ``gap`` is true when the chunk was accepted
    across a gap (or rejected for one). ``final`` is true when an accepted chunk ends the stream.
    """

    outcome: Outcome
    seq: int
    expected_seq: int | None
    gap: bool = False
    final: bool = False
    reason: RejectReason | None = None

    @property
    def accepted(self) -> bool:
        """The chunk runs through the model (FRESH or ADVANCE)."""
        return self.outcome in (Outcome.FRESH, Outcome.ADVANCE)


def decide(record: StreamRecord | None, seq: int, start: bool, end: bool, policy: GapPolicy) -> Decision:
    """Apply the per-chunk rule to one chunk (``seq``, ``start``, ``end``) of a stream."""
    if seq < 0:
        raise ValueError(f"seq must be >= 0, got {seq}")
    outcome, gap, reason = _classify(
        record, seq, start, policy if policy.__class__ is GapPolicy else GapPolicy(policy)
    )
    accepted = outcome in (Outcome.FRESH, Outcome.ADVANCE)
    expected = record.seq if record is not None else None
    return Decision(outcome, seq, expected, gap=gap, final=end and accepted, reason=reason)


_Verdict = tuple[Outcome, bool, RejectReason | None]


def _classify(record: StreamRecord | None, seq: int, start: bool, policy: GapPolicy) -> _Verdict:
    if record is None:
        if seq == 0 or start:
            return Outcome.FRESH, False, None
        return _on_gap(policy, skip=Outcome.FRESH)
    if seq <= record.seq:
        return Outcome.DUPLICATE, False, None
    if record.ended:
        return Outcome.REJECT, False, RejectReason.AFTER_END
    if start:
        return Outcome.FRESH, False, None
    if seq == record.seq + 1:
        return Outcome.ADVANCE, False, None
    return _on_gap(policy, skip=Outcome.ADVANCE)


def _on_gap(policy: GapPolicy, *, skip: Outcome) -> _Verdict:
    if policy is GapPolicy.SKIP:
        return skip, True, None
    if policy is GapPolicy.RESET:
        return Outcome.FRESH, True, None
    return Outcome.REJECT, True, RejectReason.GAP


def starting_state(decision: Decision, record: StreamRecord | None) -> Mapping[str, np.ndarray] | None:
    """The state an accepted chunk starts from: the stored tensors (ADVANCE) or ``None`` (zero state)."""
    if not decision.accepted:
        raise ValueError(f"a {decision.outcome} chunk does not run")
    if decision.outcome is Outcome.ADVANCE:
        if record is None or not record.tensors:
            raise ValueError("ADVANCE needs a live stored record")
        return record.tensors
    return None


def next_record(
    decision: Decision,
    previous: StreamRecord | None,
    tensors: Mapping[str, np.ndarray],
    steps: int,
    now_ms: int,
    frontend: Mapping[str, np.ndarray] = EMPTY_TENSORS,
) -> StreamRecord:
    """The record to store after an accepted chunk of ``steps`` steps left the model in ``tensors`` (and a
    PCM stream's front-end in ``frontend``).

    A final chunk yields a tombstone: the seq and counters, no tensors.
    """
    if not decision.accepted:
        raise ValueError(f"a {decision.outcome} chunk leaves the record untouched")
    if (previous.seq if previous is not None else None) != decision.expected_seq:
        raise ValueError("previous record is not the one the decision was made from")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    base = StreamRecord(seq=0) if decision.outcome is Outcome.FRESH or previous is None else previous
    return StreamRecord(
        seq=decision.seq,
        ended=decision.final,
        steps_seen=base.steps_seen + steps,
        chunks=base.chunks + 1,
        gaps=base.gaps + int(decision.gap),
        updated_at_ms=now_ms,
        tensors=EMPTY_TENSORS if decision.final else tensors,
        frontend=EMPTY_TENSORS if decision.final else frontend,
    )
