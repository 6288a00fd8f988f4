"""Export parity for every cell type, on small models trained briefly on the real datasets.

Each model goes through the real pipeline (train → checkpoint → ONNX → verify → publish into a temporary
repository), then ``rnnstream predict`` chunked must equal whole.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from typer.testing import CliRunner

from rnnstream.cli.main import app
from rnnstream.repository.reader import ModelRepository, read_manifest
from rnnstream.runtime.predict import predict_sequence
from rnnstream.runtime.session import OnnxModel
from rnnstream_offline.data import prepare_audio, prepare_text
from rnnstream_offline.networks import NetworkConfig, RecurrentClassifier
from rnnstream_offline.onnx_graph import build_onnx
from rnnstream_offline.pipeline import TrainRequest, export_checkpoint, train_model
from rnnstream_offline.training import TrainConfig
from rnnstream_offline.verify import VerificationError, verify_export
from tests.paths import FSDD, SMS, fsdd_slice, require_shared

CELLS = ["rnn", "gru", "lstm"]


@pytest.fixture(scope="module")
def small_fsdd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 120-recording slice of FSDD (both splits), symlinked, so training takes seconds."""
    return fsdd_slice(tmp_path_factory.mktemp("fsdd_small"), ["theo"], step=4)


@pytest.mark.slow
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layers", [1, 2])
def test_audio_export_verify_publish_predict(
    cell: str, layers: int, small_fsdd: Path, tmp_path: Path
) -> None:
    req = TrainRequest(
        task="audio",
        data_dir=small_fsdd,
        name=f"t-audio-{cell}",
        cell=cell,  # type: ignore[arg-type]
        layers=layers,
        hidden=24,
        train=TrainConfig(epochs=2, batch_size=16),
        threads=1,
    )
    ck = train_model(req, tmp_path / "run", progress=False)
    repo = tmp_path / "repo"
    folder = export_checkpoint(ck, repo)
    assert folder == repo / f"t-audio-{cell}" / "1"
    manifest = read_manifest(folder)
    assert manifest.cell == cell and manifest.layers == layers
    assert {s.input for s in manifest.state} == ({"h", "c"} if cell == "lstm" else {"h"})
    assert manifest.verification is not None
    assert manifest.verification.onnx_vs_torch_max_abs <= 1e-5
    assert manifest.verification.chunked_vs_whole_max_abs <= 1e-5
    # A second export is version 2: the repository is versioned, nothing is overwritten.
    assert export_checkpoint(ck, repo).name == "2"
    assert ModelRepository(repo).resolve(f"t-audio-{cell}").version == "2"
    wav = sorted((small_fsdd / "recordings").iterdir())[0]
    outs = {}
    for n in ("0", "1", "3"):
        res = CliRunner().invoke(app, ["predict", str(folder), str(wav), "--chunk-frames", n, "--json"])
        assert res.exit_code == 0, res.output
        outs[n] = json.loads(res.output)
    for n in ("1", "3"):
        assert outs[n]["label"] == outs["0"]["label"]
        assert max(abs(outs[n]["scores"][k] - v) for k, v in outs["0"]["scores"].items()) <= 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("cell", CELLS)
def test_text_export_parity(cell: str, tmp_path: Path) -> None:
    require_shared()
    train, vocab = prepare_text(SMS, "train", None)
    net = NetworkConfig(task="text", cell=cell, classes=2, hidden=16, vocab_size=len(vocab), embed_dim=8)  # type: ignore[arg-type]
    torch.manual_seed(0)
    model = RecurrentClassifier(net).eval()
    proto = build_onnx(model)
    v = verify_export(model, proto, train.x[:12])
    assert v.onnx_vs_torch_max_abs <= 1e-5 and v.chunked_vs_whole_max_abs <= 1e-5


def test_broken_export_is_refused_and_not_published(tmp_path: Path) -> None:
    require_shared()
    cfg_net = NetworkConfig(task="audio", cell="gru", classes=10, hidden=12)
    torch.manual_seed(0)
    model = RecurrentClassifier(cfg_net).eval()
    proto = build_onnx(model)
    # Drop GRU's linear_before_reset: the upstream exporter bug this project guards against.
    gru = next(n for n in proto.graph.node if n.op_type == "GRU")
    for attr in list(gru.attribute):
        if attr.name == "linear_before_reset":
            gru.attribute.remove(attr)
    onnx.checker.check_model(proto)
    from rnnstream.repository.manifest import LogMelConfig

    seqs = prepare_audio(FSDD, "test", LogMelConfig(), progress=False).x[:4]
    with pytest.raises(VerificationError, match="failed verification"):
        verify_export(model, proto, seqs)


@pytest.mark.parametrize("chunk", [1, 2, 5, 17])
def test_committed_models_chunked_equals_whole(chunk: int) -> None:
    """The committed models: every chunking gives the whole-sequence scores after every chunk boundary."""
    from tests.paths import AUDIO_MODEL, AUDIO_MODEL_V1, TEXT_MODEL, TEXT_MODEL_V1

    for folder in (AUDIO_MODEL, TEXT_MODEL, AUDIO_MODEL_V1, TEXT_MODEL_V1):
        model = OnnxModel(folder)
        rng = np.random.default_rng(chunk)
        if model.manifest.task == "audio":
            x = rng.standard_normal((60, 40)).astype(np.float32) - 5
        else:
            x = rng.integers(0, len(model.vocabulary or []), 40).astype(np.int64)
        whole = predict_sequence(model, x, 0)
        chunked = predict_sequence(model, x, chunk)
        assert chunked.chunks == -(-len(x) // chunk)
        assert max(abs(chunked.scores[k] - v) for k, v in whole.scores.items()) <= 1e-5
        # Each intermediate prediction equals the whole pass truncated at that point.
        for i, scores in enumerate(chunked.per_chunk):
            prefix = predict_sequence(model, x[: min(len(x), (i + 1) * chunk)], 0)
            assert np.abs(np.array(list(prefix.scores.values())) - scores).max() <= 1e-5


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize(
    ("task", "norm", "pool"),
    [("audio", "running", "none"), ("audio", "running", "mean"), ("text", "global", "mean")],
)
def test_running_mean_states_export_and_stream(cell: str, task: str, norm: str, pool: str) -> None:
    """Running normalisation and mean pooling carry their running means as extra state tensors: ONNX equals
    torch from a non-zero state, chunked (sizes from 1) equals whole, padded batches equal rows alone."""
    net = NetworkConfig(
        task=task, cell=cell, classes=4, hidden=16, layers=2, vocab_size=40, norm=norm, pool=pool
    )  # type: ignore[arg-type]
    torch.manual_seed(0)
    model = RecurrentClassifier(net).eval()
    rng = np.random.default_rng(0)
    if task == "audio":
        model.set_normalisation(torch.full((40,), -8.0), torch.full((40,), 3.0))
        seqs = [rng.normal(-8, 3, (n, 40)).astype(np.float32) for n in (1, 3, 40, 97, 12)]
    else:
        seqs = [rng.integers(1, 40, n) for n in (1, 3, 40, 97, 12)]
    expected = {"norm": 41} if norm == "running" else {}
    if pool == "mean":
        expected["pool"] = 17
    assert model.extra_states() == expected
    v = verify_export(model, build_onnx(model), seqs)
    assert v.onnx_vs_torch_max_abs <= 1e-5 and v.chunked_vs_whole_max_abs <= 1e-5
