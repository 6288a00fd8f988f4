"""The models a worker serves, loaded from the model repository at start."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from rnnstream.errors import ConfigurationError, EventError
from rnnstream.events.models import DeadLetterReason
from rnnstream.repository.reader import ModelRepository
from rnnstream.runtime.session import OnnxModel


class LoadedModels:
    """Loaded models by name and version; ``None`` as version means the latest one loaded."""

    def __init__(self, models: Iterable[OnnxModel]) -> None:
        self._by_key: dict[tuple[str, str], OnnxModel] = {}
        self._latest: dict[str, OnnxModel] = {}
        for m in models:
            self._by_key[(m.name, m.version)] = m
            if m.name not in self._latest or int(m.version) > int(self._latest[m.name].version):
                self._latest[m.name] = m
        if not self._by_key:
            raise ConfigurationError("no models to serve")

    @classmethod
    def load(
        cls, root: Path, selectors: Iterable[tuple[str, str | None]] = (), *, intra_op_threads: int = 1
    ) -> LoadedModels:
        """Load ``name[:version]`` selectors (empty: the latest version of every model) from ``root``."""
        repo = ModelRepository(root)
        wanted = list(selectors) or [(name, None) for name in repo.names()]
        refs = [repo.resolve(name, version) for name, version in wanted]
        return cls(OnnxModel(ref.path, intra_op_threads=intra_op_threads) for ref in refs)

    def __iter__(self) -> Iterator[OnnxModel]:
        return iter(self._by_key.values())

    def __len__(self) -> int:
        return len(self._by_key)

    def get(self, name: str, version: str | None) -> OnnxModel:
        """The model an event names, or an ``EventError`` with reason unknown_model/unknown_version."""
        if name not in self._latest:
            raise EventError(DeadLetterReason.UNKNOWN_MODEL, f"this worker serves no model named {name!r}")
        if version is None:
            return self._latest[name]
        try:
            return self._by_key[(name, version)]
        except KeyError:
            served = sorted(v for n, v in self._by_key if n == name)
            raise EventError(
                DeadLetterReason.UNKNOWN_VERSION,
                f"model {name!r} has no version {version!r} here (served: {', '.join(served)})",
            ) from None


__all__ = ["LoadedModels"]
