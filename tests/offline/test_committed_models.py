"""The committed models meet their accuracy bars, and ``predict`` chunked equals whole on any audio file."""

from __future__ import annotations

import json
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from rnnstream.cli.main import app
from tests.paths import AUDIO_MODEL, FSDD, SMS, TEXT_MODEL, require_shared

runner = CliRunner()


def _eval(model: Path, data: Path) -> dict[str, float]:
    res = runner.invoke(app, ["eval", str(model), "--data", str(data), "--split", "test", "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.slow
def test_audio_model_accuracy_on_fsdd_test_split() -> None:
    require_shared()
    m = _eval(AUDIO_MODEL, FSDD)
    assert m["n"] == 300
    assert m["accuracy"] >= 0.97


@pytest.mark.slow
def test_text_model_accuracy_and_f1_on_sms_test_split() -> None:
    require_shared()
    m = _eval(TEXT_MODEL, SMS)
    assert m["n"] + m["skipped"] == 1135
    assert m["accuracy"] >= 0.98
    assert m["f1"] >= 0.92


def _predict(args: list[str]) -> list[dict[str, object]]:
    res = runner.invoke(app, ["predict", str(AUDIO_MODEL), *args, "--json"])
    return [json.loads(line) for line in res.output.strip().splitlines()]


@pytest.fixture(scope="module")
def varied_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """One FSDD test recording re-encoded at 8-48 kHz, mono and stereo, wav and flac."""
    require_shared()
    y, sr = librosa.load(FSDD / "recordings" / "7_jackson_2.wav", sr=None)
    out = tmp_path_factory.mktemp("varied")
    files = []
    for rate, channels, ext in [
        (8000, 1, "wav"),
        (11025, 2, "flac"),
        (16000, 1, "flac"),
        (22050, 2, "wav"),
        (44100, 1, "wav"),
        (48000, 2, "flac"),
    ]:
        z = librosa.resample(y, orig_sr=sr, target_sr=rate)
        data = np.stack([z, 0.8 * z], axis=1) if channels == 2 else z
        path = out / f"seven_{rate}_{channels}ch.{ext}"
        sf.write(path, data, rate)
        files.append(path)
    return files


def test_predict_chunked_equals_whole_any_rate_and_channels(varied_files: list[Path]) -> None:
    names = [str(p) for p in varied_files]
    whole = _predict([*names, "--chunk-frames", "0"])
    one = _predict([*names, "--chunk-frames", "1"])
    assert [r["input"] for r in whole] == names == [r["input"] for r in one]
    for a, b in zip(whole, one, strict=True):
        assert a["label"] == b["label"]
        diff = max(abs(a["scores"][k] - v) for k, v in b["scores"].items())  # type: ignore[index,union-attr]
        assert diff <= 1e-5
    # The recording is a spoken seven; resampled copies should still be heard as one.
    assert sum(r["label"] == "7" for r in whole) >= 5


def test_predict_short_input_is_a_clear_error_not_a_crash(tmp_path: Path) -> None:
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(100), 8000)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0), 16000)
    res = runner.invoke(app, ["predict", str(AUDIO_MODEL), str(short), str(empty), "--json"])
    assert res.exit_code == 1
    rows = [json.loads(line) for line in res.output.strip().splitlines()]
    assert [r["input"] for r in rows] == [str(short), str(empty)]
    assert all("too short" in r["error"] for r in rows)
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_predict_text_from_option_and_stdin() -> None:
    msgs = ["Ok lar... Joking wif u oni...", "WINNER!! You have won a 1000 cash prize. Call 09061701461 now"]
    res = runner.invoke(
        app, ["predict", str(TEXT_MODEL), "--json", "--chunk-frames", "1"], input="\n".join(msgs) + "\n"
    )
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.output.strip().splitlines()]
    assert [r["label"] for r in rows] == ["ham", "spam"]
    res2 = runner.invoke(app, ["predict", str(TEXT_MODEL), "--json", "--text", msgs[1]])
    assert json.loads(res2.output)["label"] == "spam"
