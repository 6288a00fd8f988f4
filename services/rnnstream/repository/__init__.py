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
from rnnstream.repository.reader import DEFAULT_REPOSITORY, ModelRef, ModelRepository

__all__ = [
    "DEFAULT_REPOSITORY",
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
