"""The cell-comparison script's measuring and table code (the trainings themselves are `make compare-cells`)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from rnnstream.runtime.session import OnnxModel
from rnnstream_offline.compare import AUDIO, _loso, markdown, step_time_ms
from tests.paths import AUDIO_MODEL, FSDD, TEXT_MODEL


def test_step_time_is_measured_for_both_input_kinds() -> None:
    for folder in (AUDIO_MODEL, TEXT_MODEL):
        for batch in (1, 64):
            ms = step_time_ms(OnnxModel(folder), batch, repeats=3)
            assert math.isfinite(ms) and ms > 0


def test_loso_mean_needs_all_six_speakers(tmp_path: Path) -> None:
    assert _loso(AUDIO, tmp_path / "none", FSDD, train=False) == {"loso_mean": None, "loso": None}
    (tmp_path / "five").mkdir()
    folds = [{"speaker": s, "accuracy": 0.5} for s in ["george", "jackson", "lucas", "nicolas", "theo"]]
    (tmp_path / "five" / "loso.json").write_text(json.dumps({"folds": folds, "mean_accuracy": 0.5}))
    assert _loso(AUDIO, tmp_path / "five", FSDD, train=False)["loso_mean"] is None
    (tmp_path / "six").mkdir()
    folds.append({"speaker": "yweweler", "accuracy": 0.8})
    (tmp_path / "six" / "loso.json").write_text(json.dumps({"folds": folds, "mean_accuracy": 0.55}))
    got = _loso(AUDIO, tmp_path / "six", FSDD, train=False)
    assert got["loso_mean"] == 0.55 and got["loso"]["yweweler"] == 0.8


def test_markdown_table_rows() -> None:
    row = {
        "task": "audio",
        "cell": "gru",
        "layers": 1,
        "hidden": 128,
        "accuracy": 0.98667,
        "f1": None,
        "loso_mean": None,
        "parameters": 66570,
        "ms_per_10_step_chunk_batch1": 0.0471,
        "ms_per_10_step_chunk_batch64": 1.2349,
        "state_bytes_per_stream": 512,
        "train_duration_s": 32.0,
    }
    table = markdown([row, {**row, "task": "text", "f1": 0.96072, "loso_mean": 0.7291}])
    lines = table.strip().splitlines()
    assert len(lines) == 4 and lines[0].count("|") == lines[2].count("|") == 12
    assert "| audio | GRU | 1x128 | 0.9867 | – | – | 66,570 | 0.047 | 1.235 | 512 | 32 |" in table
    assert "| 0.9607 | 0.729 |" in lines[3]
