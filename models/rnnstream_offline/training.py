"""A small, seeded training loop with progress bars and a per-epoch report."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn
from tqdm import tqdm

from rnnstream.core.batching import pad_chunks
from rnnstream_offline.networks import RecurrentClassifier


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-5
    clip_norm: float = 1.0
    seed: int = 0
    feature_noise: float = 0.0  # std of Gaussian noise added to normalised audio features while training
    class_weights: tuple[float, ...] | None = None  # loss weight per class (None: all 1)
    label_smoothing: float = 0.0  # share of each target's probability spread over the other classes
    frame_loss: float = 0.0  # > 0: plus this weight x the loss of each step of the second half
    ema_decay: float = 0.0  # > 0: keep an exponential moving average of the weights, evaluate and end with it


# Draws the training inputs of a batch (augmented audio, token dropout): indices, rng -> sequences.
Augment = Callable[[Sequence[int], np.random.Generator], list[NDArray[np.generic]]]


@dataclass
class History:
    epochs: list[dict[str, float]] = field(default_factory=list)
    duration_s: float = 0.0


def seed_everything(seed: int) -> None:
    """Make a run repeatable on the same machine and torch build."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def pad_batch(xs: Sequence[NDArray[np.generic]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad sequences into one tensor (the serving side's ``pad_chunks``); returns it and the lengths."""
    batch, lengths = pad_chunks(xs, 0)
    return torch.from_numpy(batch), torch.from_numpy(lengths.astype(np.int64))


def _batches(lengths: Sequence[int], batch_size: int, rng: np.random.Generator) -> list[NDArray[np.int64]]:
    """Length-bucketed batches (little padding), in shuffled order."""
    order = np.argsort(np.asarray(lengths) + rng.uniform(0, 1, len(lengths)), kind="stable")
    chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(chunks)  # type: ignore[arg-type]
    return chunks


@torch.no_grad()
def predict_labels(
    model: RecurrentClassifier, xs: Sequence[NDArray[np.generic]], batch_size: int = 128
) -> list[int]:
    """Argmax class after each whole sequence."""
    model.eval()
    out: list[int] = []
    for i in range(0, len(xs), batch_size):
        x, lengths = pad_batch(xs[i : i + batch_size])
        out.extend(model(x, lengths).argmax(dim=1).tolist())
    return out


def fit(
    model: RecurrentClassifier,
    train_x: Sequence[NDArray[np.generic]],
    train_y: Sequence[int],
    test_x: Sequence[NDArray[np.generic]],
    test_y: Sequence[int],
    cfg: TrainConfig,
    progress: bool = True,
    augment: Augment | None = None,
) -> History:
    """Train with AdamW and a one-cycle schedule; log loss and accuracies each epoch (the test figure is
    reported, never used to choose a model). ``augment`` draws each batch's inputs instead of ``train_x``."""
    seed_everything(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(train_x) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch, pct_start=0.15
    )
    weights = torch.tensor(cfg.class_weights, dtype=torch.float32) if cfg.class_weights else None
    loss_fn = nn.CrossEntropyLoss(weight=weights, label_smoothing=cfg.label_smoothing)
    y_all = torch.tensor(train_y, dtype=torch.int64)
    ema = (
        torch.optim.swa_utils.AveragedModel(
            model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True
        )
        if cfg.ema_decay > 0
        else None
    )
    hist = History()
    started = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        total, correct, loss_sum = 0, 0, 0.0
        batches = _batches([len(x) for x in train_x], cfg.batch_size, rng)
        bar = tqdm(
            batches, desc=f"epoch {epoch}/{cfg.epochs}", unit="batch", disable=not progress, leave=False
        )
        for idx in bar:
            drawn = augment(idx.tolist(), rng) if augment else [train_x[i] for i in idx]
            x, lengths = pad_batch(drawn)
            if cfg.feature_noise > 0 and x.is_floating_point():
                x = x + cfg.feature_noise * torch.randn_like(x) / model.feature_inv_std
            y = y_all[idx]
            if cfg.frame_loss > 0:
                steps = model.step_logits(x, lengths)
                logits = steps[torch.arange(len(lengths)), lengths - 1]
                t = torch.arange(steps.shape[1])[None, :]
                late = (t >= (lengths[:, None] // 2)) & (t < lengths[:, None])
                frames = nn.functional.cross_entropy(steps[late], y[:, None].expand_as(late)[late])
                loss = loss_fn(logits, y) + cfg.frame_loss * frames
            else:
                logits = model(x, lengths)
                loss = loss_fn(logits, y)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_norm)
            opt.step()
            sched.step()
            if ema is not None:
                ema.update_parameters(model)
            total += len(idx)
            correct += int((logits.argmax(1) == y).sum())
            loss_sum += float(loss.detach()) * len(idx)
            bar.set_postfix(loss=f"{loss_sum / total:.4f}", acc=f"{correct / total:.3f}")
        pred = predict_labels(model if ema is None else ema.module, test_x)
        test_acc = float(np.mean(np.asarray(pred) == np.asarray(test_y)))
        row = {
            "epoch": epoch,
            "loss": loss_sum / total,
            "train_accuracy": correct / total,
            "test_accuracy": test_acc,
        }
        hist.epochs.append(row)
        if progress:
            tqdm.write(
                f"epoch {epoch:3d}/{cfg.epochs}  loss {row['loss']:.4f}  train acc {row['train_accuracy']:.4f}"
                f"  test acc {test_acc:.4f}"
            )
    if ema is not None:
        model.load_state_dict(ema.module.state_dict())
    hist.duration_s = time.perf_counter() - started
    return hist
