"""``scripts/bench_codec.py`` runs and prints its JSON document with every decoder's figures (a smoke test:
no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.paths import ROOT


def test_the_codec_micro_benchmark_prints_its_document() -> None:
    script = ROOT / "scripts" / "bench_codec.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--steps", "3", "--width", "4", "--repeat", "3", "--min-time", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert document["chunk"] == {"steps": 3, "width": 4, "dtype": "float32"}
    assert {"v1", "v2"} <= set(document["results"])  # msgpack too when it is installed
    for result in document["results"].values():
        assert result["bytes"] > 40 and result["decode_us"]["median"] > 0 and result["encode_us"]["min"] > 0
    assert "v2 binary" in proc.stderr  # the table
