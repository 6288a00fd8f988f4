"""``rnnstream bench`` end to end on a tiny load: every pipeline delivers every prediction, and the
pipelines' final predictions are identical (faust, aiokafka, naive; and quix beside naive, where the peer extra
is installed); the floor delivers one record per event and stays out of the comparison. Correctness only: a
benchmark's timings are never asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from rnnstream.bench.quix import QUIX_MISSING, quix_available
from rnnstream.cli.bench_cmd import bench
from tests.paths import REPOSITORY

pytestmark = pytest.mark.services

PIPELINES = ("faust", "aiokafka", "naive")
FIELDS = {
    "expected",
    "received",
    "complete",
    "duplicates",
    "offered_chunks_per_s",
    "sent_chunks_per_s",
    "achieved_chunks_per_s",
    "achieved_frames_per_s",
    "window_s",
    "latency_ms",
    "latency_kind",
    "mean_batch_events",
    "mean_onnx_rows",
    "cpu_s",
    "cpu_percent",
    "cpu_us_per_chunk",
    "rss_mib",
    "rss_max_process_mib",
    "resources_of",
    "final_predictions",
    "finals_sha256",
    "final_scores",
    "final_labels",
}


def _app() -> typer.Typer:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(bench)
    return app


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_tiny_bench_is_complete_and_the_pipelines_agree(
    broker_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "bench.json"
    chosen = ",".join((*PIPELINES, "floor"))
    args = ["--streams", "3", "--seconds", "1", "--pace", "max", "--pipelines", chosen]
    args += ["--broker", broker_bootstrap, "--redis-url", redis_url, "--repository", str(REPOSITORY)]
    args += ["--json-out", str(out), "--seed", "7", "--partitions", "3"]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output

    doc = json.loads(out.read_text())
    assert doc["config"]["partitions"] == 3 and "--partitions 3" in doc["command"]
    assert {"command", "config", "machine", "workload", "pipelines", "agreement", "complete"} <= doc.keys()
    assert doc["command"].startswith("rnnstream bench --streams 3 --seconds 1 ")
    workload = doc["workload"]
    assert (workload["streams"], workload["chunks_per_stream"], workload["frames_per_chunk"]) == (3, 10, 10)
    assert set(doc["pipelines"]) == {*PIPELINES, "floor"}
    for name, p in doc["pipelines"].items():
        assert p.keys() >= FIELDS, (name, FIELDS - p.keys())
        assert {"p50", "p95", "p99"} <= p["latency_ms"].keys()
        assert p["expected"] == workload["total_chunks"] == 30
        assert p["received"] == p["expected"] and p["complete"], (name, p["stop_reason"])
        assert p["final_predictions"] == (0 if name == "floor" else 3)
        assert p["rss_mib"] > 0 and p["rss_max_process_mib"] <= p["rss_mib"]
    floor = doc["pipelines"]["floor"]
    assert floor["resources_of"] == "pipeline processes" and floor["mean_onnx_rows"] is None
    assert floor["mean_batch_events"] is not None and 1 <= floor["mean_batch_events"] <= 30
    assert doc["agreement"]["pipelines"] == list(PIPELINES)  # the floor publishes no scores
    assert set(doc["over_floor_ms"]) == set(PIPELINES)
    finals = {name: doc["pipelines"][name]["final_scores"] for name in PIPELINES}
    assert len(finals["faust"]) == 3
    assert finals["aiokafka"] == finals["faust"]
    assert finals["naive"] == finals["faust"]
    labels = {name: doc["pipelines"][name]["final_labels"] for name in PIPELINES}
    assert labels["aiokafka"] == labels["naive"] == labels["faust"]
    assert doc["agreement"]["identical"] and doc["complete"]
    assert "rnnstream bench" in result.output  # the table and the JSON summary went to stdout


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_quix_pipeline_delivers_every_prediction_and_agrees_with_naive(
    broker_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    if not quix_available():
        pytest.skip(QUIX_MISSING)
    out = tmp_path / "bench.json"
    args = ["--streams", "20", "--seconds", "1", "--pace", "max", "--pipelines", "quix,naive"]
    args += ["--broker", broker_bootstrap, "--redis-url", redis_url, "--repository", str(REPOSITORY)]
    args += ["--json-out", str(out)]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output

    doc = json.loads(out.read_text())
    quix, naive = doc["pipelines"]["quix"], doc["pipelines"]["naive"]
    assert quix.keys() >= FIELDS, FIELDS - quix.keys()
    assert quix["expected"] == doc["workload"]["total_chunks"] == 200
    assert quix["received"] == quix["expected"] and quix["complete"], quix["stop_reason"]
    assert quix["final_predictions"] == 20
    assert (quix["mean_batch_events"], quix["mean_onnx_rows"]) == (1.0, 1.0)
    assert quix["resources_of"] == "pipeline processes" and quix["rss_mib"] > 0
    assert naive["resources_of"] == "bench process"
    assert quix["final_labels"] == naive["final_labels"]
    for stream, scores in naive["final_scores"].items():
        assert max(abs(quix["final_scores"][stream][k] - v) for k, v in scores.items()) <= 1e-5, stream
    assert doc["agreement"]["labels_equal"] and doc["agreement"]["max_abs_diff"] <= 1e-5
    assert doc["agreement"]["streams_missing_somewhere"] == 0
