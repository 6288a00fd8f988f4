"""What must hold after the faults, computed from the run's record alone, and the run's one-line summary.

* every chunk sent has a prediction (``lost`` counts those without);
* predictions re-emitted for one (stream, seq) are identical (same label, scores, steps, flags);
* every prediction equals the offline pass over the same prefix (``rnnstream.runtime``, ≤ 1e-5), and every
  stream's final equals the whole-sequence pass;
* nothing was applied twice or skipped: each prediction's ``steps_seen`` is the true number of steps up to
  its chunk, no prediction is flagged ``gap``, and the stored record (an end tombstone) has the last seq, the
  true steps and chunk count and no gaps.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from aiokafka.partitioner import DefaultPartitioner
from redis.asyncio import Redis

from rnnstream.core.chunk_rule import StreamRecord
from rnnstream.events import PredictionEvent, event_key
from rnnstream.features.audio import file_features
from rnnstream.features.text import tokenize
from rnnstream.runtime.predict import predict_sequence
from rnnstream.runtime.session import OnnxModel
from rnnstream.state.codec import decode_record
from rnnstream.state.store import StateKey
from tests.chaos.cluster import Fault
from tests.chaos.load import Record
from tests.chaos.topics import Positions
from tests.paths import AUDIO_MODEL, TEXT_MODEL

TOLERANCE = 1e-5


@dataclass
class Verdict:
    """The oracle's findings. ``problems`` lists a few examples of each kind of failure."""

    streams: int = 0
    chunks: int = 0
    predictions: int = 0
    lost: int = 0
    double_applied: int = 0
    diverged: int = 0
    differing_reemits: int = 0
    bad_records: int = 0
    undelivered: int = 0
    reader_missed: int = 0
    worst_diff: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.lost or self.double_applied or self.diverged or self.differing_reemits or self.bad_records
        )

    def note(self, text: str) -> None:
        if len(self.problems) < 30:
            self.problems.append(text)


def _same(a: PredictionEvent, b: PredictionEvent) -> bool:
    keep = ("label", "scores", "steps_seen", "final", "gap", "model_version")
    return all(getattr(a, k) == getattr(b, k) for k in keep)


def judge(
    record: Record,
    models: dict[str, OnnxModel],
    stored: dict[str, StreamRecord | None],
    inputs: Positions | None = None,
    faults: list[Fault] | None = None,
) -> Verdict:
    """Check ``record`` (and the stored records read back from Redis) against the offline pass.

    ``inputs`` (where the input topic holds each chunk) and ``faults`` only add context to the problems."""
    v = Verdict()
    damaged: set[str] = set()
    first: dict[tuple[str, int], PredictionEvent] = {}
    for p, _, _ in record.received:
        seen = first.setdefault((p.stream_id, p.seq), p)
        if seen is not p and not _same(seen, p):
            v.differing_reemits += 1
            v.note(f"{p.stream_id}#{p.seq}: re-emitted prediction differs ({seen.scores} vs {p.scores})")
    v.predictions = len(record.received)
    v.chunks = len(record.sent)
    missing = record.sent.keys() - first.keys()
    v.lost = len(missing)
    for sid, seq in sorted(missing):
        damaged.add(sid)
        if inputs is not None and (sid, seq) not in inputs:
            v.undelivered += 1
        v.note(f"{sid}#{seq}: no prediction")
    unexpected = first.keys() - record.sent.keys()
    if unexpected:
        v.diverged += len(unexpected)
        v.note(f"{len(unexpected)} predictions for chunks never sent, e.g. {sorted(unexpected)[:3]}")

    features: dict[str, np.ndarray] = {}
    for sid, report in record.streams.items():
        if not report.ok or report.chunks == 0:
            continue
        v.streams += 1
        extra = report.extra or {}
        if "file" in extra:
            model = models["audio"]
            assert model.manifest.features is not None
            path = str(extra["file"])
            if path not in features:
                features[path] = file_features(path, model.manifest.features)
            x = features[path]
            sizes = [record.steps[(sid, seq)] for seq in range(report.chunks)]
            chunked = predict_sequence(model, x, sizes[0])
        else:
            model = models["text"]
            x = model.encode(tokenize(str(extra["input"])))
            sizes = [record.steps[(sid, seq)] for seq in range(report.chunks)]
            chunked = predict_sequence(model, x, sizes[0])
        ends = list(np.cumsum(sizes))
        if ends[-1] != len(x) or chunked.chunks != report.chunks:
            v.diverged += 1
            v.note(
                f"{sid}: the producer sent {ends[-1]} steps in {report.chunks} chunks, offline has {len(x)}"
            )
            continue
        whole = predict_sequence(model, x, 0)
        for seq in range(report.chunks):
            p = first.get((sid, seq))
            if p is None:
                continue
            if p.steps_seen > ends[seq]:
                damaged.add(sid)
                v.double_applied += 1
                v.note(f"{sid}#{seq}: steps_seen {p.steps_seen} > {ends[seq]} sent: applied twice")
                continue
            reference = (
                whole.scores
                if seq == report.chunks - 1
                else dict(zip(model.labels, map(float, chunked.per_chunk[seq]), strict=True))
            )
            diff = max(abs(p.scores[k] - val) for k, val in reference.items())
            v.worst_diff = max(v.worst_diff, diff)
            final_ok = p.final == (seq == report.chunks - 1)
            if p.steps_seen < ends[seq] or p.gap or diff > TOLERANCE or not final_ok:
                damaged.add(sid)
                v.diverged += 1
                v.note(
                    f"{sid}#{seq}: steps_seen {p.steps_seen} (true {ends[seq]}), gap {p.gap}, final {p.final}, "
                    f"max |score - offline| {diff:.2e}"
                )
        rec = stored.get(sid)
        want = (True, report.chunks - 1, ends[-1], report.chunks, 0)
        got = None if rec is None else (rec.ended, rec.seq, rec.steps_seen, rec.chunks, rec.gaps)
        if got != want:
            damaged.add(sid)
            if got is not None and (got[2] > want[2] or got[3] > want[3]):
                v.double_applied += 1
            else:
                v.bad_records += 1
            v.note(f"{sid}: stored (ended, seq, steps, chunks, gaps) = {got}, expected {want}")
    for sid in sorted(damaged)[:3]:
        v.note(_story(sid, record, inputs, faults or []))
    return v


def _story(sid: str, record: Record, inputs: Positions | None, faults: list[Fault]) -> str:
    """When each chunk of ``sid`` was sent and arrived, where the input topic holds it, and the faults."""
    t0 = record.started_at
    arrivals: dict[int, list[float]] = defaultdict(list)
    for p, _, at in record.received:
        if p.stream_id == sid:
            arrivals[p.seq].append(at - t0)
    seqs = sorted(seq for s, seq in record.sent if s == sid)
    lines = [f"{sid}:"]
    for seq in seqs:
        where = inputs.get((sid, seq)) if inputs is not None else None
        got = ", ".join(f"{t:.2f}" for t in arrivals.get(seq, [])) or "never"
        lines.append(
            f"  #{seq} sent {record.sent[(sid, seq)] - t0:.2f} s, input at {where}, predictions at {got}"
        )
    lines.append("  faults: " + "; ".join(f"{f.at - t0:.2f} {f.kind} {f.target} {f.detail}" for f in faults))
    return "\n".join(lines)


async def read_stored(
    redis_url: str, prefix: str, record: Record, versions: dict[str, tuple[str, str]]
) -> dict[str, StreamRecord | None]:
    """The stored record of every finished stream, read back from Redis."""
    client: Redis = Redis.from_url(redis_url, decode_responses=False)
    out: dict[str, StreamRecord | None] = {}
    try:
        for sid, report in record.streams.items():
            kind = "audio" if "file" in (report.extra or {}) else "text"
            name, version = versions[kind]
            value = await client.get(StateKey(name, version, sid).render(prefix))
            out[sid] = decode_record(value) if value is not None else None
    finally:
        await client.aclose()
    return out


# --- timing -------------------------------------------------------------------------------------------
def _first_arrivals(record: Record) -> dict[tuple[str, int], float]:
    out: dict[tuple[str, int], float] = {}
    for p, _, at in record.received:
        out.setdefault((p.stream_id, p.seq), at)
    return out


def longest_stall(record: Record) -> tuple[float, float]:
    """The longest time in which no new prediction arrived while some sent chunk still waited for one;
    returns ``(seconds, start)``. Chunks that never got a prediction are left out: they are counted as lost,
    and would otherwise make the stall last until the reader gave up."""
    arrivals = _first_arrivals(record)
    events: list[tuple[float, int]] = [(t, +1) for key, t in record.sent.items() if key in arrivals]
    events += [(t, -1) for key, t in arrivals.items() if key in record.sent]
    worst, worst_at = 0.0, 0.0
    for start, end in _waits(events):
        if end - start > worst:
            worst, worst_at = end - start, start
    return worst, worst_at


def _waits(events: list[tuple[float, int]]) -> list[tuple[float, float]]:
    """From sends (``+1``) and first arrivals (``-1``), by time: each ``(start, end)`` that ends with an
    arrival, ``start`` being the previous arrival or the send that found nothing waiting."""
    pending, since, waits = 0, 0.0, []
    for t, delta in sorted(events):
        if delta > 0:
            if pending == 0:
                since = t
            pending += 1
        else:
            waits.append((since, t))
            pending -= 1
            since = t
    return waits


def partition_of(stream_id: str, partitions: int) -> int:
    return int(DefaultPartitioner()(event_key(stream_id), list(range(partitions)), list(range(partitions))))


def partition_stalls(
    record: Record, partitions: int, *, at_least_s: float = 1.0
) -> dict[int, list[tuple[float, float]]]:
    """Per partition, every interval of at least ``at_least_s`` in which chunks of it waited and none of its
    predictions arrived: ``partition -> [(start, end)]`` (chunks never predicted are left out, as lost)."""
    arrivals = _first_arrivals(record)
    events: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for key, sent_at in record.sent.items():
        arrived = arrivals.get(key)
        if arrived is None:
            continue
        part = partition_of(key[0], partitions)
        events[part] += [(sent_at, +1), (arrived, -1)]
    out: dict[int, list[tuple[float, float]]] = {}
    for part, items in events.items():
        out[part] = [(start, end) for start, end in _waits(items) if end - start >= at_least_s]
    return out


def recovery_after(stalls: dict[int, list[tuple[float, float]]], at: float, window_s: float) -> float:
    """Seconds from ``at`` until the last partition stall that began in ``[at - 1, at + window_s]`` ended: how
    long a fault kept some partition from publishing (the dead worker's partitions, and every partition while
    the group rebalanced). 0 when no partition stalled."""
    ends = [end for parts in stalls.values() for start, end in parts if at - 1.0 <= start <= at + window_s]
    return max(ends) - at if ends else 0.0


def failovers(record: Record, faults: list[Fault], partitions: int, session_s: float) -> list[float | None]:
    """:func:`recovery_after` every SIGKILL of a worker, with stalls that began up to one session timeout
    and a few seconds after it (the rebalance that follows the dead worker's expiry)."""
    stalls = partition_stalls(record, partitions)
    return [recovery_after(stalls, f.at, session_s + 3.0) for f in faults if f.kind == "kill"]


def longest_partition_stall(record: Record, partitions: int) -> float:
    stalls = partition_stalls(record, partitions)
    return max((end - start for parts in stalls.values() for start, end in parts), default=0.0)


def summary_line(
    verdict: Verdict, faults: list[Fault], record: Record, duration_s: float, partitions: int
) -> str:
    """``kills=… stops=… restarts=… streams=… chunks=… lost=… double_applied=… longest_stall_s=…``."""
    count = defaultdict(int)
    for f in faults:
        count[f.kind] += 1
    stall, _ = longest_stall(record)
    return (
        f"chaos: kills={count['kill']} stops={count['freeze']} restarts={count['restart']} "
        f"redis_restarts={count['redis-restart']} broker_freezes={count['broker-freeze']} "
        f"broker_pauses={count['broker-pause']} "
        f"streams={verdict.streams} chunks={verdict.chunks} predictions={verdict.predictions} "
        f"lost={verdict.lost} double_applied={verdict.double_applied} diverged={verdict.diverged} "
        f"differing_reemits={verdict.differing_reemits} bad_records={verdict.bad_records} "
        f"undelivered={verdict.undelivered} "
        f"max_diff={verdict.worst_diff:.1e} longest_stall_s={stall:.1f} "
        f"longest_partition_stall_s={longest_partition_stall(record, partitions):.1f} duration_s={duration_s:.0f}"
    )


def model_paths() -> dict[str, Path]:
    return {"audio": AUDIO_MODEL, "text": TEXT_MODEL}
