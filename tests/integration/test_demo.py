"""``rnnstream demo`` runs the whole service on the bundled samples and leaves nothing running."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.paths import ROOT

pytestmark = pytest.mark.services


def _service_processes() -> set[int]:
    found = set()
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "tansu" in cmd or "rnnstream worker" in cmd or ("redis-server" in cmd and ":6379" not in cmd):
            found.add(proc.pid)
    return found


def test_demo_streams_the_samples_and_cleans_up() -> None:
    before = _service_processes()
    exe = Path(sys.executable).parent / "rnnstream"
    proc = subprocess.run([str(exe), "demo"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "live predictions" in out and "final ✓" in out
    assert "18 streams (10 audio, 8 text)" in out
    assert "accuracy 18/18" in out
    assert _service_processes() <= before  # nothing the demo started is still running
