"""Leave-one-speaker-out: folds are trained without their test speaker and scored on every recording of it.

A tiny FSDD slice (three speakers, 16 recordings each) keeps this to seconds; the figures of the real folds
are in docs/models.md with the command that produced them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rnnstream.cli.main import app
from rnnstream.datasets import fsdd_speaker_split, fsdd_speakers
from rnnstream.repository.reader import ModelRepository, read_manifest
from tests.paths import REPOSITORY, fsdd_slice

runner = CliRunner()
SPEAKERS = ["george", "jackson", "theo"]


@pytest.fixture(scope="module")
def tiny_fsdd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fsdd_slice(tmp_path_factory.mktemp("fsdd_tiny"), SPEAKERS, step=31, limit=16)


def test_speaker_split_holds_one_speaker_out(tiny_fsdd: Path) -> None:
    assert fsdd_speakers(tiny_fsdd) == SPEAKERS
    test = fsdd_speaker_split(tiny_fsdd, "theo", "test")
    train = fsdd_speaker_split(tiny_fsdd, "theo", "train")
    assert {e.speaker for e in test} == {"theo"} and len(test) == 16
    assert {e.speaker for e in train} == {"george", "jackson"} and len(train) == 32


def test_loso_fold_trains_without_its_speaker_and_eval_reports_it(tiny_fsdd: Path, tmp_path: Path) -> None:
    args = [
        "train",
        "--data",
        str(tiny_fsdd),
        "--loso",
        "--fold",
        "theo",
        "--fold",
        "george",
        "--epochs",
        "1",
    ]
    args += ["--hidden", "8", "--threads", "1", "--augment", "--quiet", "--run-dir", str(tmp_path / "loso")]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    folds = tmp_path / "loso" / "folds"
    names = ModelRepository(folds).names()
    assert names == ["fsdd-digits-lstm-loso-george", "fsdd-digits-lstm-loso-theo"]
    theo = read_manifest(folds / "fsdd-digits-lstm-loso-theo" / "1")
    assert theo.training is not None and theo.training.test_speakers == ["theo"]
    assert theo.training.train_speakers == ["george", "jackson"] and theo.training.n_train == 32
    assert theo.verification is not None and theo.verification.chunked_vs_whole_max_abs <= 1e-5

    res = runner.invoke(app, ["eval", str(folds), "--loso", "--data", str(tiny_fsdd), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output.strip().splitlines()[-1])
    assert report["mode"] == "leave-one-speaker-out" and report["speakers"] == 2
    assert [f["speaker"] for f in report["folds"]] == ["george", "theo"]
    assert all(f["n"] == 16 for f in report["folds"])
    accuracies = [f["accuracy"] for f in report["folds"]]
    assert report["mean_accuracy"] == pytest.approx(sum(accuracies) / 2)
    # Each fold's accuracy is its confusion matrix's diagonal.
    for f in report["folds"]:
        cm = f["confusion_matrix"]
        assert f["accuracy"] == pytest.approx(sum(cm[i][i] for i in range(10)) / 16)
    # The training fold's own figure on the held-out speaker agrees with eval.
    assert theo.training.metrics["accuracy"] == pytest.approx(report["folds"][1]["accuracy"])


def test_loso_eval_refuses_models_that_are_not_folds(tiny_fsdd: Path, tmp_path: Path) -> None:
    # The committed repository: fsdd-digits-lstm/2 was tested on all six speakers (the official split).
    res = runner.invoke(app, ["eval", str(REPOSITORY), "--loso", "--data", str(tiny_fsdd), "--json"])
    assert res.exit_code == 2
    assert "not on one speaker" in " ".join(res.output.split())
    # Version 1 names no test speakers at all.
    (tmp_path / "repo" / "fsdd-digits-lstm").mkdir(parents=True)
    (tmp_path / "repo" / "fsdd-digits-lstm" / "1").symlink_to(REPOSITORY / "fsdd-digits-lstm" / "1")
    res = runner.invoke(app, ["eval", str(tmp_path / "repo"), "--loso", "--data", str(tiny_fsdd), "--json"])
    assert res.exit_code == 2
    assert "not a leave-one-speaker-out fold" in " ".join(res.output.split())


def test_train_passes_weight_decay_and_the_weight_average_to_training(
    tiny_fsdd: Path, tmp_path: Path
) -> None:
    args = ["train", "--data", str(tiny_fsdd), "--loso", "--fold", "theo", "--epochs", "1", "--cell", "gru"]
    args += ["--hidden", "8", "--threads", "1", "--quiet", "--run-dir", str(tmp_path / "loso")]
    args += ["--weight-decay", "0.05", "--ema-decay", "0.9"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "loso" / "runs" / "theo" / "report.json").read_text())
    assert report["train"]["weight_decay"] == 0.05 and report["train"]["ema_decay"] == 0.9
