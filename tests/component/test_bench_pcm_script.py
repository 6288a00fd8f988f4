"""``scripts/bench_pcm_frontend.py`` runs and prints its JSON document (a smoke test: no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.paths import ROOT


@pytest.mark.parametrize("segment", [False, True])
def test_the_pcm_front_end_micro_benchmark_prints_its_document(segment: bool) -> None:
    script = ROOT / "scripts" / "bench_pcm_frontend.py"
    args = [sys.executable, str(script), "--seconds", "0.5", "--repeat", "1"] + (
        ["--segment"] if segment else []
    )
    proc = subprocess.run(args, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["rows"]
    assert [r["rate"] for r in rows] == [8000, 16000, 44100, 48000]
    for r in rows:
        assert r["segment"] is segment and r["packets"] == 25 and r["record_bytes"] > 1000
        assert r["frontend_us_per_packet"] > 0 and r["step_frames_baseline_us_per_packet"] > 0
    assert "step (frames)" in proc.stderr  # the table
