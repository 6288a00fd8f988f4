"""The model repository: the contract between the offline side and the serving side."""

from rnnstream.repository.manifest import (
    LogMelConfig,
    Manifest,
    StateSpec,
    TensorSpec,
    TextConfig,
    TrainingInfo,
    Verification,
)
from rnnstream.repository.store import ModelRef, ModelRepository

__all__ = [
    "LogMelConfig",
    "Manifest",
    "ModelRef",
    "ModelRepository",
    "StateSpec",
    "TensorSpec",
    "TextConfig",
    "TrainingInfo",
    "Verification",
]
