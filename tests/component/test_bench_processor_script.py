"""``scripts/bench_processor.py`` runs the worker's batch step and prints its JSON document (a smoke test: no
timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.paths import ROOT


def test_the_processor_micro_benchmark_prints_its_document() -> None:
    script = ROOT / "scripts" / "bench_processor.py"
    argv = ["--streams", "4", "--seconds", "0.5", "--repeat", "2", "--batch", "3", "--batch", "8"]
    proc = subprocess.run(
        [sys.executable, str(script), *argv], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert document["load"] == {"streams": 4, "seconds": 0.5, "chunks": 20, "timed": 16}
    assert set(document["results"]) == {"3", "8"}
    for result in document["results"].values():
        assert len(result["us_per_chunk"]["runs"]) == 2
        assert 0 < result["onnx_us_per_chunk"] < result["us_per_chunk"]["median"]
    assert "µs/chunk median" in proc.stderr  # the table
