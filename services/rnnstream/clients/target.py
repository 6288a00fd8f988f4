"""Which model a producer's events are for, and the front-end settings that come with it.

A producer computes what the model eats (log-mel frames or tokens), so it reads the model's manifest from the
repository: the name and the resolved version go into every event, the feature configuration drives the
audio front-end. ``NAME`` resolves to the latest version in the repository, ``NAME:VERSION`` to that one,
and a path to a published model folder is taken as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rnnstream.errors import ConfigurationError
from rnnstream.repository.manifest import LogMelConfig
from rnnstream.repository.reader import DEFAULT_REPOSITORY, read_manifest, resolve_model_folder

DEFAULT_AUDIO_MODEL = "fsdd-digits-gru"  # producers' default; fsdd-digits-lstm still loads and serves
DEFAULT_TEXT_MODEL = "sms-spam-lstm"


@dataclass(frozen=True)
class ModelTarget:
    """A resolved model: what goes into each event's ``model``/``model_version``, and its front-end."""

    name: str
    version: str
    task: Literal["audio", "text"]
    features: LogMelConfig | None = None

    @property
    def log_mel(self) -> LogMelConfig:
        """The audio front-end settings; :class:`ConfigurationError` for a text model."""
        if self.features is None:
            raise ConfigurationError(
                f"{self.name} v{self.version} is a {self.task} model, not an audio model"
            )
        return self.features

    def require(self, task: Literal["audio", "text"]) -> ModelTarget:
        """``self`` when the model is for ``task``, else a :class:`ConfigurationError` that says so."""
        if self.task != task:
            raise ConfigurationError(
                f"{self.name} v{self.version} is a {self.task} model; this needs a model for {task}"
            )
        return self


def resolve_target(model: str, repository: Path | str = DEFAULT_REPOSITORY) -> ModelTarget:
    """Resolve ``NAME``, ``NAME:VERSION`` (in ``repository``) or a model folder path to a :class:`ModelTarget`.

    Raises :class:`~rnnstream.errors.ModelNotFoundError` or :class:`ConfigurationError` with what is known.
    """
    manifest = read_manifest(resolve_model_folder(model, repository))
    return ModelTarget(
        name=manifest.name, version=manifest.version, task=manifest.task, features=manifest.features
    )
