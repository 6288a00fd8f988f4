"""Build the ONNX graph of a trained ``RecurrentClassifier`` directly from its weights.

Why not ``torch.onnx.export``: in torch 2.13 the default (dynamo) exporter fixed the time axis from the
second export in one process, and it is reported to export GRU without ``linear_before_reset``. Writing the
graph ourselves with the standard ONNX ``RNN``/``GRU``/``LSTM`` operators also lets us use their
``sequence_lens`` input, so right-padded rows of different lengths share one call without corrupting state.
Every export is verified against PyTorch (``rnnstream_offline.verify``) before it can be published.

Signature: see docs/architecture.md ("The model contract").
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from rnnstream_offline.networks import DB_PER_NEPER, GATED_PRIOR, QUIET_SOFTNESS_DB, RecurrentClassifier

OPSET = 17
# ONNX gate order relative to PyTorch's: LSTM torch (i,f,g,o) -> onnx (i,o,f,c); GRU torch (r,z,n) -> onnx (z,r,h).
_GATE_ORDER = {"lstm": [0, 3, 1, 2], "gru": [1, 0, 2], "rnn": [0]}
_OP = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


def _reorder(w: np.ndarray, cell: str, hidden: int) -> np.ndarray:
    gates = [w[g * hidden : (g + 1) * hidden] for g in range(len(_GATE_ORDER[cell]))]
    return np.concatenate([gates[i] for i in _GATE_ORDER[cell]], axis=0)


def _member_rows(w: np.ndarray, gates: int, members: int, i: int, h: int) -> np.ndarray:
    """Member ``i``'s rows of a merged weight or bias in PyTorch's gate-major layout (each gate's rows hold
    the members one after another), as the member's own gate-major rows."""
    block = members * h
    return np.concatenate([w[g * block + i * h : g * block + (i + 1) * h] for g in range(gates)], axis=0)


def build_onnx(model: RecurrentClassifier) -> onnx.ModelProto:
    """The ONNX model for ``model`` (in eval mode; weights copied as float32 initializers)."""
    cfg = model.cfg
    sd = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    H, L, C = cfg.hidden, cfg.layers, cfg.classes
    inits: list[TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(value, name))
        return name

    const("axis0", np.array([0], np.int64))
    const("axis1", np.array([1], np.int64))
    if cfg.task == "text":
        x_in = helper.make_tensor_value_info("x", TensorProto.INT64, ["batch", "time"])
        nodes.append(helper.make_node("Gather", [const("embedding", sd["embedding.weight"]), "x"], ["emb"]))
        seq_input = "emb"
    else:
        x_in = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", cfg.n_mels])
        x_log = "x"
        if cfg.tracks_level:  # the stream's running mean power and each frame's level against it
            mk = helper.make_node
            nodes.append(mk("ReduceMean", ["x"], ["lv_frame"], axes=[2], keepdims=1))
            nodes.append(mk("Exp", ["lv_frame"], ["lv_power"]))
            nodes.extend(_running_mean_nodes("lv_", "lv_power", "level", 1, 0.0, const))
            nodes.append(mk("Log", ["lv_running"], ["lv_log"]))
            nodes.append(mk("Sub", ["lv_frame", "lv_log"], ["lv_rel"]))  # [batch, time, 1]
        x_feat = x_log
        if cfg.norm == "frame":  # each frame minus its own mean over the bands
            nodes.append(helper.make_node("ReduceMean", [x_log], ["frame_level"], axes=[2], keepdims=1))
            nodes.append(helper.make_node("Sub", [x_log, "frame_level"], ["x_frame"]))
            x_feat = "x_frame"
        elif cfg.norm == "cepstral":  # cepstral coefficients 1..K of each frame
            nodes.append(
                helper.make_node("MatMul", [x_log, const("cepstral_basis", sd["cepstral_basis"])], ["x_cep"])
            )
            x_feat = "x_cep"
        nodes.append(
            helper.make_node("Sub", [x_feat, const("feature_mean", sd["feature_mean"])], ["centred"])
        )
        if model.running_norm:
            nodes.extend(
                _running_mean_nodes("rn_", "centred", "norm", cfg.n_mels, cfg.norm_prior_frames, const)
            )
            nodes.append(helper.make_node("Sub", ["centred", "rn_running"], ["normalised"]))
            scaled_in = "normalised"
        else:
            scaled_in = "centred"
        nodes.append(
            helper.make_node("Mul", [scaled_in, const("feature_inv_std", sd["feature_inv_std"])], ["scaled"])
        )
        seq_input = "scaled"
    nodes.append(helper.make_node("Transpose", [seq_input], ["layer0_in"], perm=[1, 0, 2]))

    lstm = cfg.cell == "lstm"
    state_names = ["h", "c"] if lstm else ["h"]
    gates = len(_GATE_ORDER[cfg.cell])
    layer_in, h_outs, c_outs = "layer0_in", [], []
    M = cfg.members  # an ensemble merged side by side: one recurrent node per member, per layer
    h = H // M
    for layer in range(L):
        const(f"start{layer}", np.array([layer], np.int64))
        const(f"end{layer}", np.array([layer + 1], np.int64))
        for s in state_names:
            nodes.append(
                helper.make_node("Slice", [s, f"start{layer}", f"end{layer}", "axis0"], [f"{s}{layer}_in"])
            )
        if M > 1:
            const(f"split{layer}", np.array([h] * M, np.int64))
            for s in state_names:
                parts = [f"{s}{layer}_in_m{i}" for i in range(M)]
                nodes.append(helper.make_node("Split", [f"{s}{layer}_in", f"split{layer}"], parts, axis=2))
            if layer > 0:  # member i reads only its own units of the layer below
                parts = [f"{layer_in}_m{i}" for i in range(M)]
                nodes.append(helper.make_node("Split", [layer_in, f"split{layer}"], parts, axis=2))
        ys, hs, cs = [], [], []
        for i in range(M):
            tag = f"{layer}" if M == 1 else f"{layer}_m{i}"
            member_in = layer_in if (M == 1 or layer == 0) else f"{layer_in}_m{i}"
            cols = slice(None) if layer == 0 else slice(i * h, (i + 1) * h)  # the layer below: its own units
            w_ih, w_hh, b_ih, b_hh = (
                _member_rows(sd[f"rnn.{kind}_l{layer}"], gates, M, i, h)
                for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            )
            w = _reorder(w_ih[:, cols], cfg.cell, h)[None]
            r = _reorder(w_hh[:, i * h : (i + 1) * h], cfg.cell, h)[None]
            b = np.concatenate([_reorder(b_ih, cfg.cell, h), _reorder(b_hh, cfg.cell, h)])[None]
            assert w.shape[1] == gates * h
            inputs = [member_in, const(f"W{tag}", w), const(f"R{tag}", r), const(f"B{tag}", b), "lengths"]
            suffix = "" if M == 1 else f"_m{i}"
            inputs.append(f"h{layer}_in{suffix}")
            if lstm:
                inputs.append(f"c{layer}_in{suffix}")
            outs = [f"Y{tag}", f"h{tag}_out"] + ([f"c{tag}_out"] if lstm else [])
            attrs: dict[str, object] = {"hidden_size": h}
            if cfg.cell == "gru":
                attrs["linear_before_reset"] = 1
            if cfg.cell == "rnn":
                attrs["activations"] = ["Tanh"]
            nodes.append(helper.make_node(_OP[cfg.cell], inputs, outs, name=f"{cfg.cell}{tag}", **attrs))
            squeezed = f"layer{layer + 1}_in" if M == 1 else f"Y{tag}_sq"
            nodes.append(helper.make_node("Squeeze", [f"Y{tag}", "axis1"], [squeezed]))
            ys.append(squeezed)
            hs.append(f"h{tag}_out")
            cs.append(f"c{tag}_out")
        if M == 1:
            h_outs.append(hs[0])
            c_outs.append(cs[0])
        else:
            nodes.append(helper.make_node("Concat", ys, [f"layer{layer + 1}_in"], axis=2))
            nodes.append(helper.make_node("Concat", hs, [f"h{layer}_out"], axis=2))
            h_outs.append(f"h{layer}_out")
            if lstm:
                nodes.append(helper.make_node("Concat", cs, [f"c{layer}_out"], axis=2))
                c_outs.append(f"c{layer}_out")
        layer_in = f"layer{layer + 1}_in"

    nodes.append(helper.make_node("Concat", h_outs, ["h_out"], axis=0))
    if lstm:
        nodes.append(helper.make_node("Concat", c_outs, ["c_out"], axis=0))
    nodes.append(helper.make_node("Transpose", [layer_in], ["top"], perm=[1, 0, 2]))
    head_in = "top"
    if cfg.pool == "mean":
        nodes.extend(_running_mean_nodes("pl_", "top", "pool", H, 0.0, const))
        nodes.append(helper.make_node("Concat", ["top", "pl_running"], ["top_pooled"], axis=-1))
        head_in = "top_pooled"
    head_out = "step_logits" if cfg.pool == "gated" else "logits"
    nodes.append(helper.make_node("MatMul", [head_in, const("head_w", sd["head.weight"].T.copy())], ["proj"]))
    nodes.append(helper.make_node("Add", ["proj", const("head_b", sd["head.bias"])], [head_out]))
    if cfg.pool == "gated":  # the gate-weighted running mean of the per-step logits
        mk = helper.make_node
        nodes.append(mk("MatMul", ["top", const("gate_w", sd["gate.weight"].T.copy())], ["gp"]))
        nodes.append(mk("Add", ["gp", const("gate_b", sd["gate.bias"])], ["gate_pre"]))
        gates = "gates"
        nodes.append(mk("Sigmoid", ["gate_pre"], [gates]))  # [batch, time, 1]
        if cfg.quiet_db > 0:  # times sigmoid((rel in dB + quiet_db) / softness)
            scale = np.array(DB_PER_NEPER / QUIET_SOFTNESS_DB, np.float32)
            shift = np.array(cfg.quiet_db / QUIET_SOFTNESS_DB, np.float32)
            nodes.append(mk("Mul", ["lv_rel", const("quiet_scale", scale)], ["quiet_a"]))
            nodes.append(mk("Add", ["quiet_a", const("quiet_shift", shift)], ["quiet_b"]))
            nodes.append(mk("Sigmoid", ["quiet_b"], ["quiet_gate"]))
            nodes.append(mk("Mul", ["gates", "quiet_gate"], ["gates_quiet"]))
            gates = "gates_quiet"
        nodes.extend(_running_mean_nodes("gl_", head_out, "pool", C, GATED_PRIOR, const, weights=gates))
        nodes.append(mk("Identity", ["gl_running"], ["logits"]))

    inputs_vi = [x_in, helper.make_tensor_value_info("lengths", TensorProto.INT32, ["batch"])]
    outputs_vi = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "time", C])]
    for s in state_names:
        inputs_vi.append(helper.make_tensor_value_info(s, TensorProto.FLOAT, [L, "batch", H]))
        outputs_vi.append(helper.make_tensor_value_info(f"{s}_out", TensorProto.FLOAT, [L, "batch", H]))
    for extra, width in model.extra_states().items():
        inputs_vi.append(helper.make_tensor_value_info(extra, TensorProto.FLOAT, [1, "batch", width]))
        outputs_vi.append(
            helper.make_tensor_value_info(f"{extra}_out", TensorProto.FLOAT, [1, "batch", width])
        )
    graph = helper.make_graph(nodes, f"rnnstream_{cfg.task}_{cfg.cell}", inputs_vi, outputs_vi, inits)
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="rnnstream",
        producer_version=torch.__version__,
    )
    proto.ir_version = 8
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _running_mean_nodes(
    p: str,
    x: str,
    state: str,
    width: int,
    prior: float,
    const: Callable[[str, np.ndarray], str],
    weights: str | None = None,
) -> list[onnx.NodeProto]:
    """Running mean over time of ``x`` [batch, time, width], carried in ``state`` [1, batch, width + 1] (the
    mean so far, then the steps seen), shrunk towards zero by ``prior`` steps. Outputs ``{p}running``
    [batch, time, width] (the mean after each step) and ``{state}_out`` (the state after each row's last
    *valid* step: padded steps are masked out). ``weights`` [batch, time, 1] weight each step (the state then
    counts the sum of the weights, not the steps), as ``networks.running_mean``."""
    mk = helper.make_node
    const(f"{p}k", np.array(prior, np.float32))
    const(f"{p}zero_i", np.array(0, np.int64))
    const(f"{p}one_i", np.array(1, np.int64))
    const(f"{p}one_1d", np.array([1], np.int64))
    const(f"{p}last_1d", np.array([-1], np.int64))
    const(f"{p}split", np.array([width, 1], np.int64))
    counted = [
        mk("Shape", [x], [f"{p}shape"]),
        mk("Gather", [f"{p}shape", f"{p}one_i"], [f"{p}time_i"], axis=0),  # T, a scalar int64
    ]
    if weights is None:
        const(f"{p}one", np.array(1.0, np.float32))
        counted += [
            mk("Cast", [f"{p}time_i"], [f"{p}time"], to=TensorProto.FLOAT),
            mk("Add", [f"{p}time", f"{p}one"], [f"{p}limit"]),
            mk("Range", [f"{p}one", f"{p}limit", f"{p}one"], [f"{p}steps"]),  # 1..T: [T]
            mk("Unsqueeze", [f"{p}steps", "axis1"], [f"{p}counts"]),  # [T, 1]
        ]
        summed = x
    else:
        counted += [
            mk("CumSum", [weights, f"{p}one_i"], [f"{p}counts"]),  # the weights so far: [b, T, 1]
            mk("Mul", [x, weights], [f"{p}weighted"]),
        ]
        summed = f"{p}weighted"
    nodes = [
        mk("Squeeze", [state, "axis0"], [f"{p}state"]),  # [batch, width + 1]
        mk("Split", [f"{p}state", f"{p}split"], [f"{p}mean0", f"{p}seen0"], axis=1),  # [b, W], [b, 1]
        mk("Add", [f"{p}seen0", f"{p}k"], [f"{p}weight0"]),  # k + steps seen before: [b, 1]
        mk("Mul", [f"{p}mean0", f"{p}weight0"], [f"{p}sum0"]),  # [b, W]
        mk("Unsqueeze", [f"{p}sum0", "axis1"], [f"{p}sum0_t"]),  # [b, 1, W]
        mk("Unsqueeze", [f"{p}weight0", "axis1"], [f"{p}weight0_t"]),  # [b, 1, 1]
        *counted,
        mk("Add", [f"{p}weight0_t", f"{p}counts"], [f"{p}weight_t"]),  # [b, T, 1]
        mk("CumSum", [summed, f"{p}one_i"], [f"{p}cumsum"]),  # [b, T, W]
        mk("Add", [f"{p}sum0_t", f"{p}cumsum"], [f"{p}sum_t"]),
        mk("Div", [f"{p}sum_t", f"{p}weight_t"], [f"{p}running"]),
        # State after each row's last valid step.
        mk("Range", [f"{p}zero_i", f"{p}time_i", f"{p}one_i"], [f"{p}index"]),  # 0..T-1
        mk("Unsqueeze", ["lengths", "axis1"], [f"{p}len_col"]),  # [b, 1] int32
        mk("Cast", [f"{p}len_col"], [f"{p}len_i"], to=TensorProto.INT64),
        mk("Less", [f"{p}index", f"{p}len_i"], [f"{p}valid"]),  # [b, T]
        mk("Cast", [f"{p}valid"], [f"{p}valid_f"], to=TensorProto.FLOAT),
        mk("Unsqueeze", [f"{p}valid_f", f"{p}last_1d"], [f"{p}mask"]),  # [b, T, 1]
        mk("Mul", [summed, f"{p}mask"], [f"{p}masked"]),
        mk("ReduceSum", [f"{p}masked", f"{p}one_1d"], [f"{p}sum_valid"], keepdims=0),  # [b, W]
        mk("Add", [f"{p}sum0", f"{p}sum_valid"], [f"{p}sum_out"]),
    ]
    if weights is None:  # the valid steps of each row: its length
        nodes.append(mk("Cast", [f"{p}len_i"], [f"{p}seen_valid"], to=TensorProto.FLOAT))  # [b, 1]
    else:  # the sum of its valid steps' weights
        nodes.append(mk("Mul", [weights, f"{p}mask"], [f"{p}weights_valid"]))
        nodes.append(mk("ReduceSum", [f"{p}weights_valid", f"{p}one_1d"], [f"{p}seen_valid"], keepdims=0))
    nodes += [
        mk("Add", [f"{p}seen0", f"{p}seen_valid"], [f"{p}seen_out"]),
        mk("Add", [f"{p}seen_out", f"{p}k"], [f"{p}weight_out"]),
        mk("Div", [f"{p}sum_out", f"{p}weight_out"], [f"{p}mean_out"]),
        mk("Concat", [f"{p}mean_out", f"{p}seen_out"], [f"{p}state_out"], axis=1),
        mk("Unsqueeze", [f"{p}state_out", "axis0"], [f"{state}_out"]),
    ]
    return nodes
