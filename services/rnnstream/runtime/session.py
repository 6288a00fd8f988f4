"""One published model in ONNX Runtime, stepped over chunks with explicit recurrent state.

State crosses this boundary as a dict ``{state input name: float32 [layers, batch, hidden]}``; per stream it
is ``[layers, hidden]``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from rnnstream.errors import ConfigurationError, InputError
from rnnstream.features.text import Vocabulary
from rnnstream.repository.manifest import Manifest, TensorRole
from rnnstream.repository.reader import read_manifest

State = dict[str, NDArray[np.float32]]


def softmax(logits: NDArray[np.float32]) -> NDArray[np.float32]:
    """Softmax over the last axis, in float64 then back to float32."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    out: NDArray[np.float32] = (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
    return out


@dataclass(frozen=True)
class StepOutput:
    """What one ONNX call returns."""

    logits: NDArray[np.float32]  # [batch, time, classes]
    state: State  # state input name -> [layers, batch, hidden], after each row's last valid step

    def last_scores(self, lengths: NDArray[np.int32]) -> NDArray[np.float32]:
        """Class probabilities after each row's last valid step: ``[batch, classes]``."""
        rows = np.arange(len(lengths))
        return softmax(self.logits[rows, lengths.astype(np.int64) - 1])


class OnnxModel:
    """A model folder from the repository, loaded into an ONNX Runtime session."""

    def __init__(self, model_dir: Path | str, *, intra_op_threads: int = 1) -> None:
        self.path = Path(model_dir)
        self.manifest: Manifest = read_manifest(self.path)
        model_path = self.path / self.manifest.model_file
        try:
            blob = model_path.read_bytes()
        except OSError as exc:
            raise ConfigurationError(f"cannot read {model_path}: {exc}") from exc
        digest = hashlib.sha256(blob).hexdigest()
        if digest != self.manifest.model_sha256:
            raise ConfigurationError(f"{model_path} does not match the checksum in its manifest")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = intra_op_threads
        opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(blob, sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ConfigurationError(f"ONNX Runtime cannot load {model_path}: {exc}") from exc
        m = self.manifest
        self.labels = list(m.labels)
        self._x_name = m.data_input.name
        self._x_dtype = np.dtype(m.data_input.dtype)
        self._len_name = m.input_by_role(TensorRole.LENGTHS).name
        self._outputs = [m.logits_output.name] + [s.output for s in m.state]
        self.vocabulary: Vocabulary | None = None
        if m.text is not None:
            self.vocabulary = Vocabulary.load(self.path / m.text.vocabulary_file)

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    def zero_state(self, batch: int) -> State:
        """Fresh state for ``batch`` rows."""
        return {s.input: np.zeros((s.layers, batch, s.hidden), np.float32) for s in self.manifest.state}

    def zero_stream_state(self) -> State:
        """Fresh state of one stream: ``[layers, hidden]`` per tensor."""
        return {s.input: np.zeros((s.layers, s.hidden), np.float32) for s in self.manifest.state}

    def encode(self, chunk: Sequence[str] | NDArray[np.generic]) -> NDArray[np.generic]:
        """A chunk in model form: token strings → ids (text); frames checked and cast to float32 (audio)."""
        if self.vocabulary is not None:
            if isinstance(chunk, np.ndarray) and chunk.dtype.kind in "iu":
                return chunk.astype(np.int64)
            return self.vocabulary.encode(list(chunk))  # type: ignore[arg-type]
        frames = np.asarray(chunk, dtype=np.float32)
        width = self.manifest.feature_width
        if frames.ndim != 2 or frames.shape[1] != width:
            raise InputError(f"frames must be [time, {width}], got {list(frames.shape)}")
        return frames

    def run(
        self, x: NDArray[np.generic], lengths: NDArray[np.int32], state: Mapping[str, NDArray[np.float32]]
    ) -> StepOutput:
        """One ONNX Runtime call over a right-padded batch."""
        feeds: dict[str, NDArray[np.generic]] = {
            self._x_name: np.ascontiguousarray(x, dtype=self._x_dtype),
            self._len_name: np.ascontiguousarray(lengths, dtype=np.int32),
        }
        for s in self.manifest.state:
            feeds[s.input] = np.ascontiguousarray(state[s.input], dtype=np.float32)
        logits, *states = self.session.run(self._outputs, feeds)
        return StepOutput(
            logits=np.asarray(logits, np.float32),
            state={
                s.input: np.asarray(v, np.float32) for s, v in zip(self.manifest.state, states, strict=True)
            },
        )
