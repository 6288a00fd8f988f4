"""ONNX Runtime execution of published models (no torch)."""

from rnnstream.runtime.session import OnnxModel, StepOutput, softmax

__all__ = ["OnnxModel", "StepOutput", "softmax"]
