"""The bench report's CPU-per-chunk and memory figures, from hand-made collections (no services)."""

from __future__ import annotations

import io

from rich.console import Console

from rnnstream.bench.collector import Collected
from rnnstream.bench.load import SendReport, Workload
from rnnstream.bench.pipelines import BatchStats
from rnnstream.bench.report import MIB, PhaseOutcome, over_floor, render_table

WORKLOAD = Workload("fsdd-digits-lstm", ["a", "b"], 50, 10, 1000, [])


def _collected(*, window_ms: int, first_count: int = 1, received: int = 101) -> Collected:
    c = Collected(expected=received, received=received, first_count=first_count)
    c.first_ms, c.last_ms = 1_000, 1_000 + window_ms
    c.cpu_first_s = {"pipeline": 10.0, "broker": 1.0}
    c.cpu_last_s = {"pipeline": 10.5, "broker": 1.25}
    return c


def _entry(c: Collected, *, in_process: bool = False, processes: int = 1) -> dict:  # type: ignore[type-arg]
    phase = PhaseOutcome(
        "p", c, SendReport(0, 1, 1), BatchStats(None, None), None, processes, in_process=in_process
    )
    return phase.to_json(WORKLOAD, realtime=False, with_finals=False)


def test_cpu_per_chunk_is_the_windows_cpu_over_the_chunks_it_times() -> None:
    e = _entry(_collected(window_ms=2_000))
    assert e["achieved_chunks_per_s"] == 50.0  # 100 predictions after the first arrival in 2 s
    assert e["cpu_s"] == 0.5 and e["cpu_percent"] == 25.0
    assert e["cpu_us_per_chunk"] == 5_000.0  # 0.5 s / 100 chunks
    assert e["service_cpu_s"] == {"broker": 0.25}


def test_no_cpu_per_chunk_where_there_is_no_rate() -> None:
    assert _entry(_collected(window_ms=100))["cpu_us_per_chunk"] is None  # window under 0.2 s
    assert _entry(_collected(window_ms=2_000, first_count=101))["cpu_us_per_chunk"] is None  # nothing timed
    c = _collected(window_ms=2_000)
    c.cpu_first_s = c.cpu_last_s = None
    assert _entry(c)["cpu_us_per_chunk"] is None


def test_rss_keeps_the_peak_of_the_sum_and_of_the_largest_process() -> None:
    c = _collected(window_ms=2_000)
    c.note_rss([100 * MIB, 50 * MIB])
    c.note_rss([90 * MIB, 80 * MIB])  # a larger sum, a smaller largest process
    c.note_rss([])  # no process alive: nothing to keep
    e = _entry(c, processes=2)
    assert e["rss_mib"] == 170.0
    assert e["rss_max_process_mib"] == 100.0
    assert e["resources_of"] == "pipeline processes"
    assert _entry(_collected(window_ms=2_000), in_process=True)["resources_of"] == "bench process"
    assert _entry(_collected(window_ms=2_000))["rss_mib"] is None


def test_the_table_shows_cpu_per_chunk_and_rss() -> None:
    c = _collected(window_ms=2_000)
    c.note_rss([123 * MIB])
    doc = {
        "workload": {"streams": 2, "chunks_per_stream": 50, "frames_per_chunk": 10},
        "config": {"pace": "max", "source": "synthetic"},
        "pipelines": {"quix": _entry(c)},
        "agreement": {"identical": True, "pipelines": ["quix"], "max_abs_diff": 0.0, "labels_equal": True},
    }
    out = io.StringIO()
    render_table(doc, Console(file=out, width=200))
    text = out.getvalue()
    assert "µs/chunk" in text and "RSS MiB" in text
    row = next(line for line in text.splitlines() if "quix" in line and "101/101" in line)
    assert "5,000" in row and "123" in row


def test_latency_by_second_follows_the_course_of_the_run() -> None:
    c = _collected(window_ms=2_000)
    # second 0: 10 and 20 ms; second 1: nothing; second 2: 300 ms (arrivals relative to the first one)
    c.latencies_ms, c.arrived_ms = [10, 20, 300], [5_000, 5_999, 7_000]
    assert _entry(c)["latency_by_second"] == [
        {"second": 0, "n": 2, "p50": 15.0, "p99": 19.9},
        {"second": 2, "n": 1, "p50": 300.0, "p99": 300.0},
    ]
    assert _entry(_collected(window_ms=2_000))["latency_by_second"] == []


def _with_latencies(latencies_ms: list[int]) -> dict:  # type: ignore[type-arg]
    c = _collected(window_ms=2_000)
    c.latencies_ms = latencies_ms
    c.arrived_ms = [1_000] * len(latencies_ms)
    return _entry(c)


def test_each_pipeline_is_shown_above_the_floor_of_the_same_run() -> None:
    pipelines = {
        "faust": _with_latencies([50] * 98 + [120, 130]),
        "floor": _with_latencies([30] * 98 + [90, 100]),
    }
    above = over_floor(pipelines)
    assert above is not None and set(above) == {"faust"}  # the floor is not compared with itself
    faust, floor = pipelines["faust"]["latency_ms"], pipelines["floor"]["latency_ms"]
    assert above["faust"] == {"p50": 20.0, "p99": round(faust["p99"] - floor["p99"], 1)}
    assert over_floor({"faust": pipelines["faust"]}) is None  # no floor in the run, nothing to compare

    doc = {
        "workload": {"streams": 2, "chunks_per_stream": 50, "frames_per_chunk": 10},
        "config": {"pace": "realtime", "source": "synthetic"},
        "pipelines": pipelines,
        "over_floor_ms": above,
        "agreement": {"identical": True, "pipelines": ["faust"], "max_abs_diff": 0.0, "labels_equal": True},
    }
    out = io.StringIO()
    render_table(doc, Console(file=out, width=250))
    assert "latency above the floor in this run (p50 / p99 ms): faust +20 / +" in out.getvalue()
