"""ONNX Runtime cost of a merged ensemble's step (docs/models.md, "How the fsdd-digits-gru/1 recipe was chosen").

Times one call of 10 frames at batch 1 and 64 (one intra-op thread, the fastest of ``--repeat`` calls) for a
1 x 256 GRU, three of them merged by ``merge_ensemble`` as exported (one recurrent node per member), and the
same merged weights as one dense cell of 768 units (how the export ran the merged network before). The
weights are random: only the shapes matter for the time.

    python scripts/ensemble_cost.py
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import onnxruntime as ort
import torch

from rnnstream_offline.networks import NetworkConfig, RecurrentClassifier, merge_ensemble
from rnnstream_offline.onnx_graph import build_onnx


def fastest(session: ort.InferenceSession, feed: dict[str, np.ndarray], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        session.run(None, feed)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--members", type=int, default=3, help="ensemble members")
    p.add_argument("--hidden", type=int, default=256, help="hidden units of one member")
    p.add_argument("--repeat", type=int, default=200, help="calls per figure (the fastest is printed)")
    args = p.parse_args()
    net = NetworkConfig(task="audio", cell="gru", classes=10, hidden=args.hidden, norm="cepstral")

    def member(seed: int) -> RecurrentClassifier:
        torch.manual_seed(seed)
        return RecurrentClassifier(net).eval()

    merged = merge_ensemble([member(i) for i in range(args.members)])
    dense = RecurrentClassifier(replace(merged.cfg, members=1)).eval()
    dense.load_state_dict(merged.state_dict())
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    k, h = args.members, args.hidden
    print("| network | batch | ms per call of 10 frames |\n|---|---:|---:|")
    for name, model in (
        (f"GRU 1 x {h}", member(0)),
        (f"{k} x {h} merged, one node per member", merged),
        (f"{k} x {h} merged, one dense {k * h}-unit cell", dense),
    ):
        session = ort.InferenceSession(build_onnx(model).SerializeToString(), options)
        for batch in (1, 64):
            feed = {
                "x": np.zeros((batch, 10, net.n_mels), np.float32),
                "lengths": np.full(batch, 10, np.int32),
                "h": np.zeros((1, batch, model.cfg.hidden), np.float32),
            }
            print(f"| {name} | {batch} | {fastest(session, feed, args.repeat) * 1e3:.3f} |")


if __name__ == "__main__":
    main()
