"""``rnnstream demo`` runs the whole service on the bundled samples and leaves nothing running."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.paths import ROOT

pytestmark = pytest.mark.services


def _left_running(broker_port: str) -> list[str]:
    """Processes the demo started that are still alive: its broker (by port) and its worker (by app id)."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            cmd = " ".join(proc.info["cmdline"] or [])
            ours_broker = "tansu" in cmd and f":{broker_port} " in f"{cmd} "
            ours_worker = "rnnstream" in cmd and proc.environ().get("RNNSTREAM_APP_ID", "").startswith(
                "rnnstream-demo-"
            )
            if ours_broker or ours_worker:
                found.append(f"{proc.pid} {cmd}")
    return found


def test_demo_streams_the_samples_and_cleans_up() -> None:
    exe = Path(sys.executable).parent / "rnnstream"
    proc = subprocess.run([str(exe), "demo"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "live predictions" in out and "final ✓" in out
    assert "18 streams (10 audio, 8 text)" in out
    assert "accuracy 18/18" in out
    match = re.search(r"broker 127\.0\.0\.1:(\d+) \(tansu, private\)", out)
    assert match, out[:2000]
    assert _left_running(match.group(1)) == []
