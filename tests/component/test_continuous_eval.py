"""`rnnstream eval --continuous`: continuous FSDD streams cut by the endpointer (the worker's own step)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.paths import AUDIO_MODEL, FSDD, require_shared


def test_eval_continuous_finds_every_word_and_prints_the_figures() -> None:
    require_shared()
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from rnnstream.cli.main import run; run()",
            "eval",
            str(AUDIO_MODEL),
            "--data",
            str(FSDD),
            "--continuous",
            "--json",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(out.stdout)
    assert report["words"] == 300 and set(report["speakers"]) == {
        "george",
        "jackson",
        "lucas",
        "nicolas",
        "theo",
        "yweweler",
    }
    # one final per word, each word found by exactly one utterance
    assert report["finals"] == report["words"] == report["matched"]
    # the bars, on the documented seed: boundaries within 100 ms for >= 95 % of the words, and
    # per-utterance accuracy within 2 points of the same recordings scored one at a time
    assert report["boundary_rate"] >= 0.95
    assert report["accuracy"] >= report["isolated_accuracy"] - 0.02
