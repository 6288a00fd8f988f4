"""``rnnstream demo --continuous`` streams the bundled continuous recording as raw PCM (segment vad) through
a real worker, which cuts it into utterances: one final per spoken digit, an accuracy line, nothing left
running."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from rnnstream.samples import sample_continuous
from tests.integration.test_demo import _left_running
from tests.paths import ROOT

pytestmark = pytest.mark.services


def test_demo_continuous_finds_every_word_and_cleans_up() -> None:
    words = sample_continuous()[1]["words"]
    exe = Path(sys.executable).parent / "rnnstream"
    proc = subprocess.run(
        [str(exe), "demo", "--continuous"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    finals = re.findall(
        r"^utt (\d+)\s+(\d+\.\d\d)-(\d+\.\d\d) s\s+FINAL (\S+) \(\d\.\d\d\)\s+(.*)$", out, re.M
    )
    assert len(finals) == len(words) == 10, out[-3000:]
    assert [int(i) for i, *_ in finals] == list(range(10))
    # each final names the one word under it, in order
    assert [rest.split()[:2] for *_, rest in finals] == [["truth", w["label"]] for w in words], out[-3000:]
    assert re.search(r"accuracy (\d+)/10 ", out), out[-3000:]
    assert re.search(r"boundaries within ±100 ms: \d+/10", out)
    assert "got no final" not in out and "dead-lettered" not in out
    match = re.search(r"broker 127\.0\.0\.1:(\d+) \(tansu, private\)", out)
    assert match, out[:2000]
    assert _left_running(match.group(1)) == []
