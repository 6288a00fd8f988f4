"""Verify an ONNX export before it is published.

Three checks, all on real sequences, each must stay within ``tolerance``:
1. ONNX Runtime vs PyTorch, whole sequence, from a random non-zero state: per-step class probabilities (what
   the service emits), logits and final state. Probabilities and ``h`` lie in [-1, 1] and are compared by max
   abs difference; logits and the LSTM cell ``c`` are unbounded (|c| reaches ~20 in the committed models, where
   float32 rounding alone is ~2e-6), so they are compared by abs difference / max(1, |reference|). The raw
   max abs difference of the logits is recorded too.
2. ONNX Runtime chunked (random chunk sizes, 1 included) with carried state vs one whole-sequence call.
3. A right-padded batch of sequences of different lengths vs each sequence alone (the worker's waves).
In 2 and 3 the logits are compared by max abs difference and the state tensors by abs difference /
max(1, |whole-call value|): an extra state's count column (the sum of the gates of ``pool="gated"``) grows
with the stream, and float32 sums of it differ by chunking in the last bits only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
import onnxruntime as ort
import torch
from numpy.typing import NDArray

from rnnstream.core.batching import pad_chunks
from rnnstream.repository.manifest import Verification
from rnnstream_offline.networks import RecurrentClassifier

TOLERANCE = 1e-5


class VerificationError(Exception):
    """The export does not reproduce the trained model; it must not be published."""


def _run(
    sess: ort.InferenceSession,
    x: NDArray[np.generic],
    lengths: NDArray[np.int32],
    state: list[NDArray[np.float32]],
) -> list[NDArray[np.float32]]:
    """Logits, then the state outputs in the order of the state inputs (``h``, ``c``, ``norm``)."""
    names = [i.name for i in sess.get_inputs()][2:]
    feeds: dict[str, NDArray[np.generic]] = {"x": x, "lengths": lengths}
    feeds.update(zip(names, state, strict=True))
    return [np.asarray(o) for o in sess.run(["logits", *(f"{n}_out" for n in names)], feeds)]


def _scaled(a: NDArray[np.floating], ref: NDArray[np.floating]) -> float:
    return float((np.abs(a - ref) / np.maximum(1.0, np.abs(ref))).max())


def _probs(logits: NDArray[np.floating]) -> NDArray[np.float64]:
    z = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)  # type: ignore[no-any-return]


def _chunk_sizes(total: int, rng: np.random.Generator) -> list[int]:
    sizes, left = [1], total - 1  # always include a chunk of one step
    while left > 0:
        s = int(min(left, rng.integers(1, max(2, total // 3) + 1)))
        sizes.append(s)
        left -= s
    return [s for s in sizes if s > 0]


def verify_export(
    model: RecurrentClassifier,
    proto: onnx.ModelProto,
    sequences: Sequence[NDArray[np.generic]],
    *,
    tolerance: float = TOLERANCE,
    seed: int = 0,
) -> Verification:
    """Run the three checks; raise ``VerificationError`` when any exceeds ``tolerance``."""
    model.eval()
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    vs_torch = chunked = logits_abs = 0.0
    for x in sequences:
        steps = len(x)
        start = model.random_state(1, gen)
        with torch.no_grad():
            ref_logits, ref_state = model.forward_steps(torch.from_numpy(x[None]), start)
        state0 = [t.numpy() for t in start]
        whole = _run(sess, x[None], np.array([steps], np.int32), state0)
        ref = ref_logits.numpy()
        logits_abs = max(logits_abs, float(np.abs(whole[0] - ref).max()))
        vs_torch = max(
            vs_torch,
            float(np.abs(_probs(whole[0]) - _probs(ref)).max()),
            _scaled(whole[0], ref),
            *(_scaled(o, r.numpy()) for o, r in zip(whole[1:], ref_state, strict=True)),
        )
        state, pieces, pos = state0, [], 0
        for size in _chunk_sizes(steps, rng):
            out = _run(sess, x[None, pos : pos + size], np.array([size], np.int32), state)
            pieces.append(out[0])
            state, pos = out[1:], pos + size
        chunked = max(
            chunked,
            float(np.abs(np.concatenate(pieces, axis=1) - whole[0]).max()),
            *(_scaled(a, b) for a, b in zip(state, whole[1:], strict=True)),
        )
    # Padded batch vs one by one, from zero state.
    batch = list(sequences[: min(8, len(sequences))])
    padded, lengths = pad_chunks(batch, 0)
    zeros = [t.numpy() for t in model.zero_state(len(batch))]
    together = _run(sess, padded, lengths, zeros)
    for i, x in enumerate(batch):
        alone = _run(sess, x[None], lengths[i : i + 1], [z[:, :1] for z in zeros])
        chunked = max(
            chunked,
            float(np.abs(together[0][i, : len(x)] - alone[0][0]).max()),
            *(_scaled(a[:, i], b[:, 0]) for a, b in zip(together[1:], alone[1:], strict=True)),
        )
    result = Verification(
        onnx_vs_torch_max_abs=vs_torch,
        onnx_vs_torch_logits_max_abs=logits_abs,
        chunked_vs_whole_max_abs=chunked,
        tolerance=tolerance,
        n_sequences=len(sequences),
    )
    if vs_torch > tolerance or chunked > tolerance:
        raise VerificationError(
            f"export failed verification: ONNX vs torch {vs_torch:.3g}, chunked vs whole {chunked:.3g} "
            f"(tolerance {tolerance:g})"
        )
    return result
