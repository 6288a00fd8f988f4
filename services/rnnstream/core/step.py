"""The batched step: many streams' chunks of one model → waves → one ONNX Runtime call per wave.

Pure apart from the model call itself: records in, records out. The caller loads the records of every
stream in the batch (one round trip), runs this (on the loop's thread or in an executor: it blocks while
ONNX Runtime computes), then stores ``writes`` (one fenced round trip). Each stream's chunks keep their
order: the i-th chunk of a stream in the batch goes into wave i, and the state that wave leaves is what
wave i+1 starts from.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from rnnstream.core.batching import pad_chunks, wave_indices
from rnnstream.core.chunk_rule import Decision, GapPolicy, decide, next_record, starting_state
from rnnstream.core.records import StateKey, StateWrite, StreamRecord


class StepOutputLike(Protocol):
    """What a model call returns (``rnnstream.runtime.session.StepOutput``)."""

    @property
    def state(self) -> Mapping[str, NDArray[np.float32]]: ...

    def last_scores(self, lengths: NDArray[np.int32]) -> NDArray[np.float32]: ...


class StepModel(Protocol):
    """A model the step can run (``rnnstream.runtime.session.OnnxModel``)."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    def zero_stream_state(self) -> dict[str, NDArray[np.float32]]: ...

    def run(
        self, x: NDArray[np.generic], lengths: NDArray[np.int32], state: Mapping[str, NDArray[np.float32]]
    ) -> StepOutputLike: ...


@dataclass(frozen=True)
class AdmittedChunk:
    """One admitted event in model form: ``data`` is float32 ``[T, F]`` frames or int64 ``[T]`` token ids."""

    stream_id: str
    seq: int
    start: bool
    end: bool
    data: NDArray[np.generic]
    produced_at_ms: int = 0


@dataclass(frozen=True)
class ChunkOutcome:
    """What happened to one chunk. ``scores`` (class probabilities) is set for accepted chunks."""

    chunk: AdmittedChunk
    decision: Decision
    scores: NDArray[np.float32] | None = None
    steps_seen: int = 0


@dataclass
class StepResult:
    outcomes: list[ChunkOutcome]  # in the order of the input chunks
    writes: list[StateWrite]  # one per stream that changed, fenced on the seq it was loaded with
    wave_rows: list[int] = field(default_factory=list)  # rows of each ONNX call
    onnx_seconds: float = 0.0


def run_step(
    model: StepModel,
    chunks: Sequence[AdmittedChunk],
    records: Mapping[str, StreamRecord | None],
    *,
    policy: GapPolicy,
    now_ms: int,
    clock: Callable[[], float] = time.perf_counter,
    keys: Mapping[str, StateKey] | None = None,
) -> StepResult:
    """Apply the per-chunk rule and run the accepted chunks, wave by wave. ``records`` holds the loaded
    record (or None) of every stream in ``chunks``; ``keys``, when given, the state key of each (the
    caller's one key map per batch), else they are made here.

    A new record takes its tensors over as views of the wave's output (no copy per row; the store encodes
    them)."""
    current: dict[str, StreamRecord | None] = {c.stream_id: records.get(c.stream_id) for c in chunks}
    loaded = dict(current)
    outcomes: list[ChunkOutcome | None] = [None] * len(chunks)
    result = StepResult(outcomes=[], writes=[])
    pad = 0 if chunks and chunks[0].data.dtype.kind in "iu" else 0.0
    for wave in wave_indices([c.stream_id for c in chunks]):
        runnable: list[tuple[int, Decision, Mapping[str, NDArray[np.float32]]]] = []
        for i in wave:
            c = chunks[i]
            record = current[c.stream_id]
            decision = decide(record, c.seq, c.start, c.end, policy)
            if not decision.accepted:
                outcomes[i] = ChunkOutcome(c, decision)
                continue
            start = starting_state(decision, record)
            runnable.append((i, decision, start if start is not None else model.zero_stream_state()))
        if not runnable:
            continue
        x, lengths = pad_chunks([chunks[i].data for i, _, _ in runnable], pad)
        names = list(runnable[0][2])
        state = {k: np.stack([np.asarray(s[k], np.float32) for _, _, s in runnable], axis=1) for k in names}
        started = clock()
        out = model.run(x, lengths, state)
        result.onnx_seconds += clock() - started
        result.wave_rows.append(len(runnable))
        scores = out.last_scores(lengths)
        for row, (i, decision, _) in enumerate(runnable):
            c = chunks[i]
            tensors = {k: v[:, row] for k, v in out.state.items()}
            new = next_record(decision, current[c.stream_id], tensors, int(lengths[row]), now_ms)
            current[c.stream_id] = new
            outcomes[i] = ChunkOutcome(c, decision, scores[row], new.steps_seen)
    result.outcomes = [o for o in outcomes if o is not None]
    for stream_id, record in current.items():
        if record is not None and record is not loaded[stream_id]:
            before = loaded[stream_id]
            key = keys[stream_id] if keys is not None else StateKey(model.name, model.version, stream_id)
            result.writes.append(StateWrite(key, before.seq if before is not None else None, record))
    return result
