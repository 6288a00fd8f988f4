"""Unidirectional recurrent classifiers: the output after any prefix is a prediction for that prefix."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

Cell = Literal["rnn", "gru", "lstm"]
_CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


@dataclass(frozen=True)
class NetworkConfig:
    """Shape of a classifier. ``task`` decides the input: log-mel frames (audio) or token ids (text)."""

    task: Literal["audio", "text"]
    cell: Cell
    classes: int
    hidden: int = 128
    layers: int = 1
    dropout: float = 0.1
    n_mels: int = 40  # audio
    vocab_size: int = 0  # text
    embed_dim: int = 64  # text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RecurrentClassifier(nn.Module):
    """Input normalisation (audio) or embedding (text) → RNN/GRU/LSTM stack → linear head per step."""

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        if cfg.cell not in _CELLS:
            raise ValueError(f"cell must be one of {sorted(_CELLS)}")
        self.cfg = cfg
        if cfg.task == "text":
            if cfg.vocab_size < 3:
                raise ValueError("a text network needs vocab_size")
            self.embedding: nn.Embedding | None = nn.Embedding(cfg.vocab_size, cfg.embed_dim, padding_idx=0)
            in_size = cfg.embed_dim
        else:
            self.embedding = None
            in_size = cfg.n_mels
        self.register_buffer("feature_mean", torch.zeros(cfg.n_mels))
        self.register_buffer("feature_inv_std", torch.ones(cfg.n_mels))
        self.rnn = _CELLS[cfg.cell](
            in_size, cfg.hidden, cfg.layers, batch_first=True, dropout=cfg.dropout if cfg.layers > 1 else 0.0
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden, cfg.classes)

    def set_normalisation(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Per-mel-bin statistics of the training frames (audio); baked into the exported graph."""
        self.feature_mean.copy_(mean)
        self.feature_inv_std.copy_(1.0 / std.clamp_min(1e-3))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        if self.embedding is not None:
            return self.embedding(x)
        return (x - self.feature_mean) * self.feature_inv_std

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits after each row's last valid step (training and evaluation)."""
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        padded, _ = pad_packed_sequence(out, batch_first=True)
        last = padded[torch.arange(len(lengths)), lengths - 1]
        return self.head(self.drop(last))

    def zero_state(self, batch: int) -> tuple[torch.Tensor, ...]:
        h = torch.zeros(self.cfg.layers, batch, self.cfg.hidden)
        return (h, h.clone()) if self.cfg.cell == "lstm" else (h,)

    def forward_steps(
        self, x: torch.Tensor, state: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """Per-step logits ``[batch, time, classes]`` and the new state: the reference for the ONNX graph."""
        st: Any = state if self.cfg.cell == "lstm" else state[0]
        out, new = self.rnn(self.embed(x), st)
        new_state = tuple(new) if self.cfg.cell == "lstm" else (new,)
        return self.head(out), new_state
