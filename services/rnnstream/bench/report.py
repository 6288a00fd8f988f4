"""Figures of one bench run: per-pipeline statistics, the agreement of their final predictions, the table.

Definitions (``docs/benchmarks.md`` says the same):

* achieved chunks/s = predictions received after the first arrival / (time of the last arrival − time of the
  first), the first arrival (one or more predictions read together) opening the window; frames/s the same with
  the frames of those chunks; no figure when the window is under 0.2 s (too few predictions to time);
* latency = time the bench's consumer received a prediction − the event's ``produced_at_ms`` (stamped when
  the bench handed the event to its producer). At ``--pace max`` every event is produced before the pipeline
  starts, so this is queueing time, reported but flagged;
* CPU = user + system seconds of the pipeline's processes between the first and the last prediction, as a
  percentage of that window (100 % = one core), and per chunk: those seconds / the predictions the window
  times (the ones chunks/s counts), in µs; no per-chunk figure where there is no chunks/s;
* RSS = resident set size of the pipeline's processes, the peak of the probe's readings over the same window
  (one at the first prediction, one after every batch of new ones): the processes summed and the largest
  one. In-process pipelines (aiokafka, naive): the bench process, as for CPU.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from rnnstream.bench.collector import Collected
from rnnstream.bench.load import SendReport, Workload
from rnnstream.bench.pipelines import FLOOR, BatchStats

MIN_WINDOW_S = 0.2
MIB = 1024 * 1024


def _round(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(float(x), digits)


def _mib(n_bytes: int | None) -> float | None:
    return None if n_bytes is None else round(n_bytes / MIB, 1)


def latency_summary(latencies_ms: list[int]) -> dict[str, float | None]:
    """p50, p95, p99, mean and max of the latencies, in milliseconds."""
    if not latencies_ms:
        return {"p50": None, "p95": None, "p99": None, "mean": None, "max": None}
    a = np.asarray(latencies_ms, dtype=np.float64)
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return {
        "p50": _round(p50, 1),
        "p95": _round(p95, 1),
        "p99": _round(p99, 1),
        "mean": _round(a.mean(), 1),
        "max": _round(a.max(), 1),
    }


def latency_by_second(latencies_ms: list[int], arrived_ms: list[int]) -> list[dict[str, float | int | None]]:
    """The latency's course over the run: for each second after the first arrival, how many predictions
    arrived in it and their p50 and p99 (ms). A rising course means something grows with the run (a
    backlog, or a broker whose cost grows with what it stores; docs/benchmarks.md)."""
    if not latencies_ms:
        return []
    lat = np.asarray(latencies_ms, dtype=np.float64)
    second = (np.asarray(arrived_ms, dtype=np.int64) - min(arrived_ms)) // 1000
    out: list[dict[str, float | int | None]] = []
    for k in range(int(second.max()) + 1):
        here = lat[second == k]
        if here.size:
            p50, p99 = np.percentile(here, [50, 99])
            out.append({"second": k, "n": int(here.size), "p50": _round(p50, 1), "p99": _round(p99, 1)})
    return out


def finals_digest(finals: dict[str, dict[str, float]]) -> str:
    """SHA-256 of the final scores in canonical JSON: equal digests mean identical final predictions."""
    blob = json.dumps(finals, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


@dataclass(frozen=True)
class PhaseOutcome:
    """Everything measured for one pipeline."""

    name: str
    collected: Collected
    sent: SendReport
    batches: BatchStats
    offered_chunks_per_s: float | None
    cpu_processes: int
    in_process: bool = False

    def to_json(self, workload: Workload, *, realtime: bool, with_finals: bool) -> dict[str, Any]:
        """The pipeline's entry in the JSON document."""
        c = self.collected
        window_s = (
            (c.last_ms - c.first_ms) / 1000.0 if c.first_ms is not None and c.last_ms is not None else None
        )
        timed = c.received - c.first_count  # the first arrival opens the window, its predictions precede it
        rate = timed / window_s if window_s and window_s >= MIN_WINDOW_S and timed > 0 else None
        cpu: dict[str, float] = {}
        if c.cpu_first_s is not None and c.cpu_last_s is not None:
            for key, last in c.cpu_last_s.items():
                cpu[key] = last - c.cpu_first_s.get(key, last)
        pipeline_cpu = _round(cpu.get("pipeline"), 2)
        cpu_per_chunk = 1e6 * cpu["pipeline"] / timed if rate is not None and "pipeline" in cpu else None
        entry: dict[str, Any] = {
            "expected": c.expected,
            "received": c.received,
            "complete": c.complete,
            "duplicates": c.duplicates,
            "stop_reason": c.stop_reason or None,
            "offered_chunks_per_s": _round(self.offered_chunks_per_s, 1),
            "sent_chunks_per_s": _round(self.sent.rate, 1),
            "achieved_chunks_per_s": _round(rate, 1),
            "achieved_frames_per_s": _round(rate * workload.frames_per_chunk if rate else None, 1),
            "window_s": _round(window_s, 3),
            "latency_ms": latency_summary(c.latencies_ms),
            "latency_kind": "produce_to_prediction" if realtime else "queueing (all events produced first)",
            "latency_by_second": latency_by_second(c.latencies_ms, c.arrived_ms),
            "mean_batch_events": _round(self.batches.mean_batch_events, 2),
            "mean_onnx_rows": _round(self.batches.mean_onnx_rows, 2),
            "cpu_s": pipeline_cpu,
            "cpu_percent": _round(100.0 * pipeline_cpu / window_s, 1) if pipeline_cpu and window_s else None,
            "cpu_us_per_chunk": _round(cpu_per_chunk, 1),
            "cpu_processes": self.cpu_processes,
            "rss_mib": _mib(c.rss_peak_bytes),
            "rss_max_process_mib": _mib(c.rss_peak_process_bytes),
            "resources_of": "bench process" if self.in_process else "pipeline processes",
            "service_cpu_s": {k: _round(v, 2) for k, v in cpu.items() if k != "pipeline"},
            "final_predictions": len(c.finals),
            "finals_sha256": finals_digest(c.finals),
        }
        if with_finals:
            entry["final_scores"] = c.finals
            entry["final_labels"] = c.final_labels
        return entry


def agreement(phases: list[PhaseOutcome]) -> dict[str, Any]:
    """How far apart the pipelines' final predictions are (stream by stream, label by label)."""
    if not phases:
        return {"pipelines": [], "identical": True, "labels_equal": True, "max_abs_diff": 0.0}
    streams = sorted(set().union(*(p.collected.finals for p in phases)))
    worst = 0.0
    labels_equal = True
    missing = 0
    for sid in streams:
        per = [p.collected.finals.get(sid) for p in phases]
        if any(s is None for s in per):
            missing += 1
            continue
        ref = per[0]
        assert ref is not None
        for other in per[1:]:
            assert other is not None
            if other.keys() != ref.keys():
                labels_equal = False
                continue
            worst = max(worst, max(abs(other[k] - ref[k]) for k in ref))
        labels = {p.collected.final_labels.get(sid) for p in phases}
        labels_equal = labels_equal and len(labels) == 1
    digests = {finals_digest(p.collected.finals) for p in phases}
    return {
        "pipelines": [p.name for p in phases],
        "streams": len(streams),
        "streams_missing_somewhere": missing,
        "identical": len(digests) == 1 and missing == 0,
        "labels_equal": labels_equal and missing == 0,
        "max_abs_diff": worst,
    }


def over_floor(pipelines: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]] | None:
    """Each other pipeline's latency p50 and p99 minus the floor's in the same run (ms), or ``None`` when the
    floor did not run: the part of a pipeline's latency that is its own work, not the broker's and the
    clients'."""
    floor = pipelines.get(FLOOR)
    if floor is None:
        return None
    base = floor["latency_ms"]
    out: dict[str, dict[str, float | None]] = {}
    for name, p in pipelines.items():
        if name == FLOOR:
            continue
        mine = p["latency_ms"]
        out[name] = {
            q: _round(mine[q] - base[q], 1) if mine[q] is not None and base[q] is not None else None
            for q in ("p50", "p99")
        }
    return out


def _fmt(x: Any, spec: str = ",.0f") -> str:
    return "—" if x is None else format(x, spec)


def _signed(x: float | None) -> str:
    return "—" if x is None else format(x, "+,.0f")


def render_table(document: dict[str, Any], console: Console) -> None:
    """The run's figures as one rich table (one row per pipeline) and a line about the inputs."""
    w, cfg = document["workload"], document["config"]
    realtime = cfg["pace"] == "realtime"
    title = (
        f"rnnstream bench: {w['streams']} streams × {w['chunks_per_stream']} chunks of {w['frames_per_chunk']} "
        f"frames ({cfg['source']}), pace {cfg['pace']}"
    )
    lat = "latency" if realtime else "queueing"
    caption = (
        f"p50/p95/p99: {lat} in ms; batch: events per batch; rows: per ONNX call; µs/chunk: CPU per chunk; "
        "RSS: peak MiB (aiokafka, naive: CPU and RSS of the bench process)"
    )
    if FLOOR in document["pipelines"]:
        caption += "; floor: consume → publish with no work between, what the broker and the clients cost"
    table = Table(title=title, caption=caption)
    for col in ("pipeline", "offered/s", "chunks/s", "frames/s", "p50", "p95", "p99"):
        table.add_column(col, justify="left" if col == "pipeline" else "right", no_wrap=True)
    for col in ("batch", "rows", "CPU s", "CPU %", "µs/chunk", "RSS MiB", "predictions"):
        table.add_column(col, justify="right", no_wrap=True)
    for name, p in document["pipelines"].items():
        lm = p["latency_ms"]
        ok = "[green]" if p["complete"] else "[bold red]"
        table.add_row(
            name,
            _fmt(p["offered_chunks_per_s"]) if realtime else "max",
            _fmt(p["achieved_chunks_per_s"]),
            _fmt(p["achieved_frames_per_s"]),
            _fmt(lm["p50"], ",.1f"),
            _fmt(lm["p95"], ",.1f"),
            _fmt(lm["p99"], ",.1f"),
            _fmt(p["mean_batch_events"], ".1f"),
            _fmt(p["mean_onnx_rows"], ".1f"),
            _fmt(p["cpu_s"], ".2f"),
            _fmt(p["cpu_percent"], ".0f"),
            _fmt(p["cpu_us_per_chunk"], ",.0f"),
            _fmt(p["rss_mib"], ",.0f"),
            f"{ok}{p['received']}/{p['expected']}",
        )
    console.print(table)
    above = document.get("over_floor_ms")
    if above:
        parts = [f"{name} {_signed(d['p50'])} / {_signed(d['p99'])}" for name, d in above.items()]
        console.print(f"{lat} above the floor in this run (p50 / p99 ms): {', '.join(parts)}")
    a = document["agreement"]
    console.print(
        f"final predictions: {'identical' if a['identical'] else 'NOT identical'} across "
        f"{', '.join(a['pipelines'])} (max |Δscore| {a['max_abs_diff']:.1e}, labels equal: {a['labels_equal']})"
    )
