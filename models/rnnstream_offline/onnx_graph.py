"""Build the ONNX graph of a trained ``RecurrentClassifier`` directly from its weights.

Why not ``torch.onnx.export``: in torch 2.13 the default (dynamo) exporter fixed the time axis from the
second export in one process, and it is reported to export GRU without ``linear_before_reset``. Writing the
graph ourselves with the standard ONNX ``RNN``/``GRU``/``LSTM`` operators also lets us use their
``sequence_lens`` input, so right-padded rows of different lengths share one call without corrupting state.
Every export is verified against PyTorch (``rnnstream_offline.verify``) before it can be published.

Signature: see docs/architecture.md ("The model contract").
"""

from __future__ import annotations

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from rnnstream_offline.networks import RecurrentClassifier

OPSET = 17
# ONNX gate order relative to PyTorch's: LSTM torch (i,f,g,o) -> onnx (i,o,f,c); GRU torch (r,z,n) -> onnx (z,r,h).
_GATE_ORDER = {"lstm": [0, 3, 1, 2], "gru": [1, 0, 2], "rnn": [0]}
_OP = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


def _reorder(w: np.ndarray, cell: str, hidden: int) -> np.ndarray:
    gates = [w[g * hidden : (g + 1) * hidden] for g in range(len(_GATE_ORDER[cell]))]
    return np.concatenate([gates[i] for i in _GATE_ORDER[cell]], axis=0)


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

    if cfg.task == "text":
        x_in = helper.make_tensor_value_info("x", TensorProto.INT64, ["batch", "time"])
        nodes.append(helper.make_node("Gather", [const("embedding", sd["embedding.weight"]), "x"], ["emb"]))
        seq_input = "emb"
    else:
        x_in = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", cfg.n_mels])
        nodes.append(helper.make_node("Sub", ["x", const("feature_mean", sd["feature_mean"])], ["centred"]))
        nodes.append(
            helper.make_node("Mul", ["centred", const("feature_inv_std", sd["feature_inv_std"])], ["norm"])
        )
        seq_input = "norm"
    nodes.append(helper.make_node("Transpose", [seq_input], ["layer0_in"], perm=[1, 0, 2]))

    lstm = cfg.cell == "lstm"
    state_names = ["h", "c"] if lstm else ["h"]
    gates = len(_GATE_ORDER[cfg.cell])
    const("axis0", np.array([0], np.int64))
    const("axis1", np.array([1], np.int64))
    layer_in, h_outs, c_outs = "layer0_in", [], []
    for layer in range(L):
        w = _reorder(sd[f"rnn.weight_ih_l{layer}"], cfg.cell, H)[None]
        r = _reorder(sd[f"rnn.weight_hh_l{layer}"], cfg.cell, H)[None]
        b = np.concatenate(
            [
                _reorder(sd[f"rnn.bias_ih_l{layer}"], cfg.cell, H),
                _reorder(sd[f"rnn.bias_hh_l{layer}"], cfg.cell, H),
            ]
        )[None]
        assert w.shape[1] == gates * H
        const(f"start{layer}", np.array([layer], np.int64))
        const(f"end{layer}", np.array([layer + 1], np.int64))
        for s in state_names:
            nodes.append(
                helper.make_node("Slice", [s, f"start{layer}", f"end{layer}", "axis0"], [f"{s}{layer}_in"])
            )
        inputs = [layer_in, const(f"W{layer}", w), const(f"R{layer}", r), const(f"B{layer}", b), "lengths"]
        inputs.append(f"h{layer}_in")
        if lstm:
            inputs.append(f"c{layer}_in")
        outs = [f"Y{layer}", f"h{layer}_out"] + ([f"c{layer}_out"] if lstm else [])
        attrs: dict[str, object] = {"hidden_size": H}
        if cfg.cell == "gru":
            attrs["linear_before_reset"] = 1
        if cfg.cell == "rnn":
            attrs["activations"] = ["Tanh"]
        nodes.append(helper.make_node(_OP[cfg.cell], inputs, outs, name=f"{cfg.cell}{layer}", **attrs))
        nodes.append(helper.make_node("Squeeze", [f"Y{layer}", "axis1"], [f"layer{layer + 1}_in"]))
        layer_in = f"layer{layer + 1}_in"
        h_outs.append(f"h{layer}_out")
        c_outs.append(f"c{layer}_out")

    nodes.append(helper.make_node("Concat", h_outs, ["h_out"], axis=0))
    if lstm:
        nodes.append(helper.make_node("Concat", c_outs, ["c_out"], axis=0))
    nodes.append(helper.make_node("Transpose", [layer_in], ["top"], perm=[1, 0, 2]))
    nodes.append(helper.make_node("MatMul", ["top", const("head_w", sd["head.weight"].T.copy())], ["proj"]))
    nodes.append(helper.make_node("Add", ["proj", const("head_b", sd["head.bias"])], ["logits"]))

    state_type = ["layers_" + str(L), "batch", H]
    inputs_vi = [x_in, helper.make_tensor_value_info("lengths", TensorProto.INT32, ["batch"])]
    outputs_vi = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "time", C])]
    for s in state_names:
        inputs_vi.append(helper.make_tensor_value_info(s, TensorProto.FLOAT, [L, "batch", H]))
        outputs_vi.append(helper.make_tensor_value_info(f"{s}_out", TensorProto.FLOAT, [L, "batch", H]))
    del state_type
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
