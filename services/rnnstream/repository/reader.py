"""Reading the model repository: ``<root>/<name>/<version>/{model.onnx, manifest.json, ...}``.

Versions are whole numbers; "latest" is the largest. The serving side reads nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from rnnstream.errors import ConfigurationError, ModelNotFoundError
from rnnstream.repository.manifest import Manifest

MANIFEST_FILE = "manifest.json"
#: Where the CLI, the clients and the worker look for models unless told otherwise (relative to the cwd).
DEFAULT_REPOSITORY = Path("models/repository")


@dataclass(frozen=True)
class ModelRef:
    """A resolved model version in a repository."""

    name: str
    version: str
    path: Path


class ModelRepository:
    """A folder of published models."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def names(self) -> list[str]:
        """Model names that have at least one published version."""
        if not self.root.is_dir():
            raise ConfigurationError(f"model repository {self.root} does not exist")
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.versions(p.name))

    def versions(self, name: str) -> list[str]:
        """Published versions of ``name``, oldest first."""
        folder = self.root / name
        if not folder.is_dir():
            return []
        found = [p.name for p in folder.iterdir() if p.name.isdigit() and (p / MANIFEST_FILE).is_file()]
        return sorted(found, key=int)

    def resolve(self, name: str, version: str | None = None) -> ModelRef:
        """The folder of ``name`` at ``version`` (latest when ``None``)."""
        versions = self.versions(name)
        if not versions:
            known = ", ".join(self.names()) or "none"
            raise ModelNotFoundError(f"no model named {name!r} in {self.root} (known: {known})")
        if version is None:
            version = versions[-1]
        elif version not in versions:
            raise ModelNotFoundError(
                f"model {name!r} has no version {version!r} (published: {', '.join(versions)})"
            )
        return ModelRef(name, version, self.root / name / version)

    def latest(self) -> list[ModelRef]:
        """The latest version of every model."""
        return [self.resolve(n) for n in self.names()]


def read_manifest(model_dir: Path | str) -> Manifest:
    """Load and validate ``manifest.json`` from a model folder."""
    path = Path(model_dir) / MANIFEST_FILE
    try:
        return Manifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError as exc:
        raise ConfigurationError(f"{path} not found: is {model_dir} a published model folder?") from exc
    except (ValidationError, json.JSONDecodeError) as exc:
        raise ConfigurationError(f"{path} is not a valid manifest: {exc}") from exc


def resolve_model_folder(model: str, repository: Path | str = DEFAULT_REPOSITORY) -> Path:
    """The folder of ``model``: a published model folder as given, else ``NAME`` (the latest version) or
    ``NAME:VERSION`` looked up in ``repository``. Raises :class:`ModelNotFoundError` with what is there."""
    folder = Path(model)
    if (folder / MANIFEST_FILE).is_file():
        return folder
    name, _, version = model.partition(":")
    return ModelRepository(repository).resolve(name, version or None).path
