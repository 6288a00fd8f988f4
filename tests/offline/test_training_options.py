"""The exploration options of ``fit`` (used by ``scripts/loso_sweep.py``): an exponential moving average of the
weights, which the model ends with and is evaluated with, and a loss on every step of each sequence's second
half, read through ``step_logits``, whose last valid step equals ``forward``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnstream_offline.networks import NetworkConfig, RecurrentClassifier
from rnnstream_offline.training import TrainConfig, fit, pad_batch, predict_labels


def _data(n: int = 24) -> tuple[list[np.ndarray], list[int]]:
    rng = np.random.default_rng(3)
    xs = [(rng.normal(size=(int(rng.integers(3, 9)), 5)) + i % 3).astype(np.float32) for i in range(n)]
    return xs, [i % 3 for i in range(n)]


def _model(**extra: object) -> RecurrentClassifier:
    torch.manual_seed(0)
    return RecurrentClassifier(
        NetworkConfig(task="audio", cell="gru", classes=3, n_mels=5, hidden=8, **extra)
    )


def test_step_logits_end_in_the_logits_of_forward() -> None:
    model = _model().eval()
    x, lengths = pad_batch(_data()[0][:6])
    last = model.step_logits(x, lengths)[torch.arange(6), lengths - 1]
    torch.testing.assert_close(last, model(x, lengths))


def test_gated_step_logits_end_in_forward_and_equal_gate_weighted_means_of_the_step_logits() -> None:
    model = _model(pool="gated").eval()
    x, lengths = pad_batch(_data()[0][:6])
    steps = model.step_logits(x, lengths)
    torch.testing.assert_close(steps[torch.arange(6), lengths - 1], model(x, lengths))
    assert model.gate is not None
    with torch.no_grad():  # the same gate for every step: the plain running mean of the head's logits
        model.gate.weight.zero_()
        model.gate.bias.fill_(0.3)
        plain = model.head(model._outputs(x, lengths))
        steps = model.step_logits(x, lengths)
    count = torch.arange(1, x.shape[1] + 1, dtype=torch.float32)[None, :, None]
    gate = torch.sigmoid(torch.tensor(0.3))
    expected = torch.cumsum(plain, 1) * gate / (count * gate + 1e-3)
    torch.testing.assert_close(steps, expected)
    with torch.no_grad():  # gates of ~0: the zero prior outweighs every step
        model.gate.bias.fill_(-40.0)
        quiet = model.step_logits(x, lengths)
    assert quiet.abs().max() < 1e-6


def test_step_logits_refuse_a_pooled_head() -> None:
    x, lengths = pad_batch(_data()[0][:2])
    with pytest.raises(ValueError, match="pool"):
        _model(pool="mean").step_logits(x, lengths)


def test_the_frame_loss_changes_the_training_and_still_learns() -> None:
    xs, ys = _data()
    plain, framed = _model(), _model()
    fit(plain, xs, ys, xs, ys, TrainConfig(epochs=4, lr=1e-2), False)
    hist = fit(framed, xs, ys, xs, ys, TrainConfig(epochs=4, lr=1e-2, frame_loss=1.0), False)
    assert not torch.equal(plain.head.weight, framed.head.weight)
    assert hist.epochs[-1]["loss"] < hist.epochs[0]["loss"]


def test_with_an_ema_the_model_ends_with_the_averaged_weights_and_is_scored_with_them() -> None:
    xs, ys = _data()
    plain, averaged = _model(), _model()
    fit(plain, xs, ys, xs, ys, TrainConfig(epochs=3, lr=1e-2), False)
    hist = fit(averaged, xs, ys, xs, ys, TrainConfig(epochs=3, lr=1e-2, ema_decay=0.9), False)
    # the same seed and batches: the raw weights would be equal; the averaged ones are not
    assert not torch.equal(plain.head.weight, averaged.head.weight)
    accuracy = float(np.mean(np.asarray(predict_labels(averaged, xs)) == np.asarray(ys)))
    assert hist.epochs[-1]["test_accuracy"] == pytest.approx(accuracy)
