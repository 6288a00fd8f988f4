"""The bundled continuous recording: its truth document describes the WAV beside it, and
``scripts/make_continuous_sample.py`` rebuilds both exactly."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from rnnstream.samples import CONTINUOUS_WAV, SAMPLES_DIR, sample_continuous
from tests.paths import ROOT


def test_the_truth_matches_the_wav() -> None:
    path, truth = sample_continuous()
    assert path == CONTINUOUS_WAV and path.stat().st_size < 1_000_000
    info = sf.info(str(path))
    assert (info.samplerate, info.channels, info.subtype) == (8000, 1, "PCM_16")
    assert truth["sample_rate"] == 8000 and truth["samples"] == info.frames
    assert truth["duration_s"] == info.frames / 8000
    assert (truth["seed"], truth["gap_s"], truth["snr_db"]) == (0, [0.3, 2.0], 30.0)
    assert "CC BY-SA 4.0" in truth["license"] and "Free Spoken Digit Dataset" in truth["attribution"]

    words = truth["words"]
    assert len(words) == 10
    assert sorted(w["label"] for w in words) == [str(d) for d in range(10)]
    bundled = {p.name for p in (SAMPLES_DIR / "fsdd").glob("*.wav")}
    assert {w["source"] for w in words} == bundled
    assert all(w["source"].split("_")[0] == w["label"] for w in words)
    bounds = [(w["start_s"], w["end_s"]) for w in words]
    assert all(0.3 <= s < e for s, e in bounds) and bounds[-1][1] <= truth["duration_s"] - 0.3
    assert all(e1 < s2 for (_, e1), (s2, _) in itertools.pairwise(bounds))  # in order, apart

    # speech where the truth says, quiet (noise at 30 dB below the words) between the words
    data, _ = sf.read(str(path), dtype="float64")

    def rms(a: float, b: float) -> float:
        return float(np.sqrt(np.mean(data[int(a * 8000) : int(b * 8000)] ** 2)))

    gaps = [(e1 + 0.05, s2 - 0.05) for (_, e1), (s2, _) in itertools.pairwise(bounds) if s2 - e1 > 0.2]
    quietest_word = min(rms(s, e) for s, e in bounds)
    assert max(rms(a, b) for a, b in gaps) * 3 < quietest_word


def test_the_script_rebuilds_the_bundled_files_exactly(tmp_path: Path) -> None:
    script = ROOT / "scripts" / "make_continuous_sample.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--out", str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "10 words" in proc.stdout
    built = json.loads((tmp_path / "digits-8k.json").read_text(encoding="utf-8"))
    assert built == sample_continuous()[1]
    ours, _ = sf.read(str(tmp_path / "digits-8k.wav"), dtype="int16")
    bundled, _ = sf.read(str(CONTINUOUS_WAV), dtype="int16")
    np.testing.assert_array_equal(ours, bundled)
