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
from rnnstream.core.chunk_rule import (
    Decision,
    GapPolicy,
    Outcome,
    RejectReason,
    decide,
    next_record,
    starting_state,
)
from rnnstream.core.pcm import FedSegment, FrontEnd, PcmSamples
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
    """One admitted event in model form: ``data`` is float32 ``[T, F]`` frames or int64 ``[T]`` token ids;
    for raw audio ``pcm`` holds the samples (the front-end makes the frames) and ``data`` is empty."""

    stream_id: str
    seq: int
    start: bool
    end: bool
    data: NDArray[np.generic]
    produced_at_ms: int = 0
    pcm: PcmSamples | None = None


@dataclass(frozen=True)
class SegmentPrediction:
    """One prediction of a PCM chunk: a chunk of a segmented stream may end one utterance and start the next,
    so it can have several (or none, in silence)."""

    scores: NDArray[np.float32]
    final: bool
    utterance: tuple[int, int, int] | None = None


@dataclass(frozen=True)
class ChunkOutcome:
    """What happened to one chunk. ``scores`` (class probabilities) is set for accepted frames and tokens
    chunks; an accepted PCM chunk has ``predictions`` instead (zero or more). ``detail`` explains a rejection
    that the per-chunk rule did not make (a PCM chunk that does not fit its stream)."""

    chunk: AdmittedChunk
    decision: Decision
    scores: NDArray[np.float32] | None = None
    steps_seen: int = 0
    predictions: tuple[SegmentPrediction, ...] = ()
    detail: str | None = None


#: The front-end state entry where the step keeps a PCM stream's last scores: an end chunk that completes
#: no new frame still gets its final prediction.
LAST_SCORES = "step.scores"


@dataclass
class _PcmJob:
    index: int
    decision: Decision
    segments: list[FedSegment]
    frontend: Mapping[str, np.ndarray]
    base: Mapping[str, NDArray[np.float32]]
    rows: dict[int, int] = field(default_factory=dict)  # segment index -> row of the wave
    last_scores: NDArray[np.float32] | None = None


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
    frontend: FrontEnd | None = None,
) -> StepResult:
    """Apply the per-chunk rule and run the accepted chunks, wave by wave. ``records`` holds the loaded
    record (or None) of every stream in ``chunks``; ``keys``, when given, the state key of each (the
    caller's one key map per batch), else they are made here. ``frontend`` turns PCM chunks into frames
    (needed only when a chunk carries ``pcm``); its state travels in the record's ``frontend``.

    A new record takes its tensors over as views of the wave's output (no copy per row; the store encodes
    them)."""
    current: dict[str, StreamRecord | None] = {c.stream_id: records.get(c.stream_id) for c in chunks}
    loaded = dict(current)
    outcomes: list[ChunkOutcome | None] = [None] * len(chunks)
    result = StepResult(outcomes=[], writes=[])
    pad = 0 if chunks and chunks[0].data.dtype.kind in "iu" else 0.0
    for wave in wave_indices([c.stream_id for c in chunks]):
        rows: list[tuple[NDArray[np.generic], Mapping[str, NDArray[np.float32]]]] = []
        runnable: list[tuple[int, Decision, int]] = []  # frames/tokens chunks: (chunk, decision, row)
        jobs: list[_PcmJob] = []
        for i in wave:
            c = chunks[i]
            record = current[c.stream_id]
            decision = decide(record, c.seq, c.start, c.end, policy)
            if not decision.accepted:
                outcomes[i] = ChunkOutcome(c, decision)
                continue
            start = starting_state(decision, record)
            base = start if start is not None else model.zero_stream_state()
            if c.pcm is None:
                runnable.append((i, decision, len(rows)))
                rows.append((c.data, base))
                continue
            job = _pcm_job(i, c, decision, record, base, frontend)
            if isinstance(job, ChunkOutcome):
                outcomes[i] = job
                continue
            for j, segment in enumerate(job.segments):
                if len(segment.frames):
                    job.rows[j] = len(rows)
                    rows.append((segment.frames, model.zero_stream_state() if segment.opens else base))
            jobs.append(job)
        if not rows and not jobs:
            continue
        scores = np.zeros((0, 0), np.float32)
        out_state: Mapping[str, NDArray[np.float32]] = {}
        lengths = np.zeros(0, np.int32)
        if rows:
            x, lengths = pad_chunks([data for data, _ in rows], pad)
            names = list(rows[0][1])
            state = {k: np.stack([np.asarray(s[k], np.float32) for _, s in rows], axis=1) for k in names}
            started = clock()
            out = model.run(x, lengths, state)
            result.onnx_seconds += clock() - started
            result.wave_rows.append(len(rows))
            scores = out.last_scores(lengths)
            out_state = out.state
        for i, decision, row in runnable:
            c = chunks[i]
            tensors = {k: v[:, row] for k, v in out_state.items()}
            new = next_record(decision, current[c.stream_id], tensors, int(lengths[row]), now_ms)
            current[c.stream_id] = new
            outcomes[i] = ChunkOutcome(c, decision, scores[row], new.steps_seen)
        for job in jobs:
            c = chunks[job.index]
            outcome, new_record = _finish_pcm(
                job, c, current[c.stream_id], model, scores, out_state, lengths, now_ms
            )
            outcomes[job.index] = outcome
            if new_record is not None:
                current[c.stream_id] = new_record
    result.outcomes = [o for o in outcomes if o is not None]
    for stream_id, record in current.items():
        if record is not None and record is not loaded[stream_id]:
            before = loaded[stream_id]
            key = keys[stream_id] if keys is not None else StateKey(model.name, model.version, stream_id)
            result.writes.append(StateWrite(key, before.seq if before is not None else None, record))
    return result


def _refused(c: AdmittedChunk, decision: Decision, detail: str) -> ChunkOutcome:
    rejection = Decision(Outcome.REJECT, c.seq, decision.expected_seq, reason=RejectReason.BAD_PCM)
    return ChunkOutcome(c, rejection, detail=detail)


def _pcm_job(
    i: int,
    c: AdmittedChunk,
    decision: Decision,
    record: StreamRecord | None,
    base: Mapping[str, NDArray[np.float32]],
    frontend: FrontEnd | None,
) -> _PcmJob | ChunkOutcome:
    """Run the front-end over a PCM chunk from the stream's stored front-end state."""
    assert c.pcm is not None
    if frontend is None:
        return _refused(c, decision, "this model has no audio front-end for raw PCM")
    stored = record.frontend if decision.outcome is Outcome.ADVANCE and record is not None else {}
    state = {k: v for k, v in stored.items() if k != LAST_SCORES}
    out = frontend.advance(c.pcm, state or None, end=c.end)
    if out.refusal is not None:
        return _refused(c, decision, out.refusal)
    last = stored.get(LAST_SCORES)
    return _PcmJob(i, decision, out.segments, out.state, base, last_scores=last)


def _finish_pcm(
    job: _PcmJob,
    c: AdmittedChunk,
    previous: StreamRecord | None,
    model: StepModel,
    scores: NDArray[np.float32],
    out_state: Mapping[str, NDArray[np.float32]],
    lengths: NDArray[np.int32],
    now_ms: int,
) -> tuple[ChunkOutcome, StreamRecord | None]:
    """The predictions of a PCM chunk's segments and the stream's next record."""
    state: Mapping[str, NDArray[np.float32]] = job.base
    last = job.last_scores
    steps = 0
    predictions: list[SegmentPrediction] = []
    segmented = c.pcm is not None and c.pcm.segment
    for j, segment in enumerate(job.segments):
        if segment.opens:
            last = None
        row = job.rows.get(j)
        if row is not None:
            last = scores[row]
            state = {k: v[:, row] for k, v in out_state.items()}
            steps += int(lengths[row])
        elif not segment.closes:
            continue
        if last is None:
            continue  # an utterance (or stream) that closes before its first frame: nothing to say
        predictions.append(SegmentPrediction(last, segment.closes, segment.utterance))
        if segment.closes:
            state, last = model.zero_stream_state(), None
    if job.decision.final and not segmented and not predictions:
        return _refused(c, job.decision, "the stream ended before its first frame was complete"), None
    frontend = dict(job.frontend)
    if last is not None:
        frontend[LAST_SCORES] = np.asarray(last, np.float32)
    new = next_record(job.decision, previous, state, steps, now_ms, frontend)
    return ChunkOutcome(c, job.decision, None, new.steps_seen, tuple(predictions)), new
