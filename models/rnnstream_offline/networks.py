"""Unidirectional recurrent classifiers: the output after any prefix is a prediction for that prefix."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import numpy as np
import torch
from numpy.typing import NDArray
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
    # audio: "global" subtracts the training mean; "running" also subtracts the stream's own running mean so
    # far (shrunk towards zero by ``norm_prior_frames`` frames), carried as an extra state tensor ``norm``;
    # "frame" first subtracts each frame's own mean over the mel bands (the frame's log level), so the input
    # does not change with the microphone's gain, and needs no state; "cepstral" first takes cepstral
    # coefficients 1..``cepstra`` of each frame (the DCT-II of the log-mel frame, as in MFCCs, without c0, the
    # frame's level): gain-invariant too, and the fine structure of the spectrum (the voice's pitch
    # harmonics) is left out. Neither needs state.
    norm: Literal["global", "running", "frame", "cepstral"] = "global"
    cepstra: int = 13
    norm_prior_frames: float = 10.0
    # "mean": the head also reads the running mean of the top layer's outputs so far (carried as an extra
    # state tensor ``pool``), not only the last output. "gated": the prediction after each step is the mean
    # of the head's logits of every step so far, each step weighted by a gate in (0, 1) that the network
    # computes from that step's output (a sigmoid of a linear map): steps it learns to distrust, such as the
    # quiet tail after a word, barely move the prediction. The weighted mean and the sum of the gates are
    # carried as the extra state tensor ``pool`` (classes + 1 wide).
    pool: Literal["none", "mean", "gated"] = "none"
    # An ensemble merged by ``merge_ensemble``: ``members`` networks of ``hidden // members`` units side by
    # side, whose recurrent weights are block-diagonal. The ONNX export then runs one recurrent node per
    # member (a third of the work of one dense cell of ``hidden`` units at three members), not the dense
    # block-diagonal cell.
    members: int = 1
    # audio, pool="gated", > 0: a fixed rule on top of the learned gate: a frame more than ``quiet_db`` dB
    # below the stream's running mean power (the same level, carried in ``level``) has its gate multiplied
    # by a sigmoid falling from 1 to 0 around that point (over about QUIET_SOFTNESS_DB dB), so silence and
    # the quiet after a word cannot move the prediction, whatever the network would make of them.
    quiet_db: float = 0.0

    @property
    def tracks_level(self) -> bool:
        """Whether the network carries the ``level`` state (``quiet_db``)."""
        return self.quiet_db > 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RecurrentClassifier(nn.Module):
    """Input normalisation (audio) or embedding (text) → RNN/GRU/LSTM stack → linear head per step."""

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        if cfg.cell not in _CELLS:
            raise ValueError(f"cell must be one of {sorted(_CELLS)}")
        self.cfg = cfg
        if cfg.members < 1 or cfg.hidden % cfg.members:
            raise ValueError("members must be at least 1 and divide hidden")
        if cfg.task == "text":
            if cfg.vocab_size < 3:
                raise ValueError("a text network needs vocab_size")
            self.embedding: nn.Embedding | None = nn.Embedding(cfg.vocab_size, cfg.embed_dim, padding_idx=0)
            in_size = cfg.embed_dim
        else:
            self.embedding = None
            in_size = self.feature_width
        if cfg.task == "audio" and cfg.norm == "cepstral":
            if not 1 <= cfg.cepstra < cfg.n_mels:
                raise ValueError(f"cepstra must be between 1 and {cfg.n_mels - 1}")
            self.register_buffer("cepstral_basis", torch.from_numpy(cepstral_basis(cfg.n_mels, cfg.cepstra)))
        width = self.feature_width if cfg.task == "audio" else cfg.n_mels
        self.register_buffer("feature_mean", torch.zeros(width))
        self.register_buffer("feature_inv_std", torch.ones(width))
        self.rnn = _CELLS[cfg.cell](
            in_size, cfg.hidden, cfg.layers, batch_first=True, dropout=cfg.dropout if cfg.layers > 1 else 0.0
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden * (2 if cfg.pool == "mean" else 1), cfg.classes)
        if cfg.quiet_db > 0 and (cfg.pool != "gated" or cfg.task != "audio"):
            raise ValueError("quiet_db needs an audio network with pool='gated'")
        self.gate: nn.Linear | None = nn.Linear(cfg.hidden, 1) if cfg.pool == "gated" else None

    @property
    def feature_width(self) -> int:
        """Audio: the width of the per-frame input the global statistics apply to."""
        return self.cfg.cepstra if self.cfg.norm == "cepstral" else self.cfg.n_mels

    def set_normalisation(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Per-mel-bin statistics of the training frames (audio); baked into the exported graph."""
        self.feature_mean.copy_(mean)
        self.feature_inv_std.copy_(1.0 / std.clamp_min(1e-3))

    @property
    def running_norm(self) -> bool:
        return self.cfg.task == "audio" and self.cfg.norm == "running"

    def embed(
        self, x: torch.Tensor, norm: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Network input and, with running normalisation, the new ``norm`` state ``[1, batch, n_mels + 1]``
        (the running mean of the centred frames, then the frames seen), from ``norm`` (None: a fresh stream).

        Steps past a row's length are not masked here: they only change outputs that are never read (the
        ONNX graph masks them when it computes the state it returns)."""
        if self.embedding is not None:
            return self.embedding(x), None
        x = frame_inputs(x, self.cfg, getattr(self, "cepstral_basis", None))
        centred = x - self.feature_mean
        if not self.running_norm:
            return centred * self.feature_inv_std, None
        if norm is None:
            norm = torch.zeros(1, x.shape[0], self.cfg.n_mels + 1)
        running, new = running_mean(centred, norm, self.cfg.norm_prior_frames)
        return (centred - running) * self.feature_inv_std, new

    def _outputs(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The cell's outputs ``[batch, time, hidden]``, zeros past each row's length."""
        inputs, _ = self.embed(x)
        packed = pack_padded_sequence(inputs, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        padded, _ = pad_packed_sequence(out, batch_first=True)
        return padded

    def stream_level(
        self, x: torch.Tensor, level: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``quiet_db``: each log-mel frame's level (its mean over the bands) minus the log of the stream's
        running mean power so far (the running mean of exp(level)) ``[batch, time, 1]``, continuing the
        ``level`` state [1, batch, 2] (None: a fresh stream), and the new state."""
        if level is None:
            level = torch.zeros(1, x.shape[0], 2)
        frame = x.mean(dim=-1, keepdim=True)
        power, new = running_mean(torch.exp(frame), level, 0.0)
        return frame - torch.log(power), new

    def _gated_logits(
        self, out: torch.Tensor, pool: torch.Tensor | None = None, rel: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``pool="gated"``: the gate-weighted running mean of the per-step logits of ``out`` [batch, time,
        hidden], continuing ``pool`` (None: a fresh stream), and the new ``pool`` state; ``rel`` is
        ``stream_level``'s relative level (with ``quiet_db``)."""
        assert self.gate is not None
        if pool is None:
            pool = torch.zeros(1, out.shape[0], self.cfg.classes + 1)
        gates = torch.sigmoid(self.gate(out))
        if self.cfg.quiet_db > 0 and rel is not None:
            gates = gates * torch.sigmoid((rel * DB_PER_NEPER + self.cfg.quiet_db) / QUIET_SOFTNESS_DB)
        return running_mean(self.head(self.drop(out)), pool, GATED_PRIOR, gates)

    def step_logits(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits after every step ``[batch, time, classes]`` (``pool="none"`` or ``"gated"``): what a stream
        would publish after each frame; the last valid step's equal ``forward``'s."""
        if self.cfg.pool == "gated":
            rel = self.stream_level(x)[0] if self.cfg.tracks_level else None
            return self._gated_logits(self._outputs(x, lengths), rel=rel)[0]
        if self.cfg.pool != "none":
            raise ValueError("step_logits needs pool='none' or 'gated'")
        return self.head(self.drop(self._outputs(x, lengths)))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits after each row's last valid step (training and evaluation)."""
        padded = self._outputs(x, lengths)
        rows = torch.arange(len(lengths))
        if self.cfg.pool == "gated":  # steps past a row's length come after the step read, so never count
            rel = self.stream_level(x)[0] if self.cfg.tracks_level else None
            return self._gated_logits(padded, rel=rel)[0][rows, lengths - 1]
        last = padded[rows, lengths - 1]
        if self.cfg.pool == "mean":  # padded steps are zeros, so the sum up to the length is the valid sum
            mean = torch.cumsum(padded, dim=1)[rows, lengths - 1] / lengths[:, None].to(padded.dtype)
            last = torch.cat([last, mean], dim=1)
        return self.head(self.drop(last))

    def extra_states(self) -> dict[str, int]:
        """State tensors besides the cell's, ``[1, batch, width]``: name → width (running means + count)."""
        out = {}
        if self.running_norm:
            out["norm"] = self.cfg.n_mels + 1
        if self.cfg.tracks_level:
            out["level"] = 2
        if self.cfg.pool == "mean":
            out["pool"] = self.cfg.hidden + 1
        if self.cfg.pool == "gated":
            out["pool"] = self.cfg.classes + 1
        return out

    def state_names(self) -> list[str]:
        """The state tensors, in the order of ``zero_state``: ``h`` (, ``c``) (, ``norm``) (, ``level``) (,
        ``pool``)."""
        return ["h"] + (["c"] if self.cfg.cell == "lstm" else []) + list(self.extra_states())

    def zero_state(self, batch: int) -> tuple[torch.Tensor, ...]:
        h = torch.zeros(self.cfg.layers, batch, self.cfg.hidden)
        state = (h, h.clone()) if self.cfg.cell == "lstm" else (h,)
        return (*state, *(torch.zeros(1, batch, w) for w in self.extra_states().values()))

    def random_state(self, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        """A plausible non-zero state (for export checks): cell state ~ N(0, 0.25), running means ~ N(0, 1)
        (a running mean power: its exp) with 1-50 steps seen."""
        cell = [0.5 * torch.randn(t.shape, generator=generator) for t in self.zero_state(batch)[:2]]
        cell = cell[: 2 if self.cfg.cell == "lstm" else 1]
        extra = []
        for name, w in self.extra_states().items():
            t = torch.randn(1, batch, w, generator=generator)
            if name == "level":
                t[..., :-1] = t[..., :-1].exp()
            t[..., -1] = torch.randint(1, 51, (1, batch), generator=generator).to(t.dtype)
            extra.append(t)
        return (*cell, *extra)

    def forward_steps(
        self, x: torch.Tensor, state: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """Per-step logits ``[batch, time, classes]`` and the new state: the reference for the ONNX graph."""
        named = dict(zip(self.state_names(), state, strict=True))
        rel = level = None
        if self.cfg.tracks_level:
            rel, level = self.stream_level(x, named["level"])
        inputs, norm = self.embed(x, named.get("norm"))
        st: Any = (named["h"], named["c"]) if self.cfg.cell == "lstm" else named["h"]
        out, new = self.rnn(inputs, st)
        new_state = tuple(new) if self.cfg.cell == "lstm" else (new,)
        if norm is not None:
            new_state = (*new_state, norm)
        if level is not None:
            new_state = (*new_state, level)
        if self.cfg.pool == "mean":
            pooled, pool = running_mean(out, named["pool"], 0.0)
            return self.head(torch.cat([out, pooled], dim=-1)), (*new_state, pool)
        if self.cfg.pool == "gated":
            logits, pool = self._gated_logits(out, named["pool"], rel)
            return logits, (*new_state, pool)
        return self.head(out), new_state


def cepstral_basis(n_mels: int, cepstra: int) -> NDArray[np.float32]:
    """``[n_mels, cepstra]``: a log-mel frame times this is its orthonormal DCT-II, coefficients 1..cepstra
    (``scipy.fft.dct(frame, norm="ortho")[1 : cepstra + 1]``)."""
    n = np.arange(n_mels)[:, None]
    k = np.arange(1, cepstra + 1)[None, :]
    out: NDArray[np.float32] = (
        np.sqrt(2.0 / n_mels) * np.cos(np.pi * k * (2 * n + 1) / (2 * n_mels))
    ).astype(np.float32)
    return out


def frame_inputs(frames: torch.Tensor, cfg: NetworkConfig, basis: torch.Tensor | None = None) -> torch.Tensor:
    """Log-mel frames ``[..., n_mels]`` as the network sees them before the global statistics (what those
    statistics are computed on, and what ``embed`` normalises): each frame minus its mean over the bands
    (``norm="frame"``), its cepstral coefficients (``"cepstral"``; ``basis`` is ``cepstral_basis``, built
    when not given), else the frames."""
    if cfg.norm == "frame":
        return frames - frames.mean(dim=-1, keepdim=True)
    if cfg.norm == "cepstral":
        if basis is None:
            basis = torch.from_numpy(cepstral_basis(cfg.n_mels, cfg.cepstra))
        return frames @ basis
    return frames


# pool="gated": the weight of the zero prior in the gated mean (a stream's first steps are never divided by ~0).
GATED_PRIOR = 1e-3
# quiet_db: the width of the fall of the fixed gate (dB per unit of its sigmoid's argument).
QUIET_SOFTNESS_DB = 2.0
DB_PER_NEPER = float(10 / np.log(10))  # dB of a power ratio per unit of its natural log


def running_mean(
    x: torch.Tensor, state: torch.Tensor, prior: float, weights: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Running mean over time of ``x`` [batch, time, width] continuing ``state`` [1, batch, width + 1] (the
    mean so far, then the steps seen, or the sum of their weights), shrunk towards zero by ``prior`` steps:
    the mean after each step and the new state (the ONNX graph builds the same,
    ``onnx_graph._running_mean_nodes``). ``weights`` [batch, time, 1] (default all 1) weight each step."""
    mean0, seen0 = state[0, :, None, :-1], state[0, :, None, -1:]  # [batch, 1, width], [batch, 1, 1]
    if weights is None:
        steps = torch.arange(1, x.shape[1] + 1, dtype=x.dtype)[None, :, None]
        weighted = x
    else:
        steps = torch.cumsum(weights, dim=1)
        weighted = x * weights
    running = (mean0 * (prior + seen0) + torch.cumsum(weighted, dim=1)) / (prior + seen0 + steps)
    new = torch.cat([running[:, -1], (seen0 + steps[:, -1:])[:, 0]], dim=1)[None]
    return running, new


@torch.no_grad()
def merge_ensemble(members: list[RecurrentClassifier]) -> RecurrentClassifier:
    """One network whose logits are the mean of ``members``' logits, for any prefix: a cell of K times the
    hidden size with block-diagonal recurrent weights (and, above the first layer, block-diagonal input
    weights), so the K members run side by side without reading each other's state, and a head that averages
    their heads. It exports and streams like any other network (one ``h`` of K x hidden per layer, ``c`` for
    LSTM). Members must share the task, cell, depth, input normalisation and its statistics (same training
    data); mean pooling is not supported."""
    first = members[0]
    cfg, k = first.cfg, len(members)
    if any(m.cfg != cfg for m in members) or cfg.pool != "none" or cfg.task != "audio":
        raise ValueError("ensemble members must be audio networks of one shape, without pooling")
    for m in members[1:]:
        for name in ("feature_mean", "feature_inv_std"):
            if not torch.equal(getattr(m, name), getattr(first, name)):
                raise ValueError("ensemble members must share their input normalisation")
    h = cfg.hidden
    merged = RecurrentClassifier(replace(cfg, hidden=k * h, members=k * cfg.members))
    gates = merged.rnn.weight_hh_l0.shape[0] // (k * h)
    target = dict(merged.named_parameters())

    def rows(g: int, i: int) -> slice:  # member i's rows of gate g, in the merged gate-major layout
        return slice(g * k * h + i * h, g * k * h + (i + 1) * h)

    for layer in range(cfg.layers):
        for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            out = target[f"rnn.{kind}_l{layer}"]
            out.zero_()
            for i, m in enumerate(members):
                src = getattr(m.rnn, f"{kind}_l{layer}")
                for g in range(gates):
                    part = src[g * h : (g + 1) * h]
                    if kind.startswith("bias"):
                        out[rows(g, i)] = part
                    elif kind == "weight_ih" and layer == 0:
                        out[rows(g, i)] = part  # every member reads the whole input
                    else:
                        out[rows(g, i), i * h : (i + 1) * h] = part  # only its own hidden units
    merged.head.weight.copy_(torch.cat([m.head.weight for m in members], dim=1) / k)
    merged.head.bias.copy_(torch.stack([m.head.bias for m in members]).mean(0))
    for name, buf in first.named_buffers():
        getattr(merged, name).copy_(buf)
    return merged.eval()
