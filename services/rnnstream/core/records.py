"""The values the pure core computes with and the state store keeps: a stream's record, the key it is stored
under, and a fenced write of a new record. Values only: no I/O, no third-party library but NumPy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

EMPTY_TENSORS: Mapping[str, np.ndarray] = MappingProxyType({})


def _frozen_tensors(tensors: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
    frozen: dict[str, np.ndarray] = {}
    for name, value in tensors.items():
        array = np.array(value, copy=True)
        array.setflags(write=False)
        frozen[name] = array
    return MappingProxyType(frozen)


@dataclass(frozen=True, eq=False)
class StreamRecord:
    """The stored record of one stream: its last applied ``seq``, counters and recurrent state.

    ``tensors`` maps a state name (``h``, ``c``) to a float32 array ``[layers, hidden]``; it is empty for
    a tombstone (``ended``). The arrays are copied and made read-only, so a record is a value.
    Equality compares tensors bit for bit (dtype, shape and bytes).
    """

    seq: int
    ended: bool = False
    steps_seen: int = 0
    chunks: int = 0
    gaps: int = 0
    updated_at_ms: int = 0
    tensors: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.seq < 0:
            raise ValueError(f"seq must be >= 0, got {self.seq}")
        if min(self.steps_seen, self.chunks, self.gaps, self.updated_at_ms) < 0:
            raise ValueError("counters and updated_at_ms must be >= 0")
        if self.ended and self.tensors:
            raise ValueError("an ended record (tombstone) holds no tensors")
        object.__setattr__(self, "tensors", _frozen_tensors(self.tensors))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StreamRecord):
            return NotImplemented
        head = (self.seq, self.ended, self.steps_seen, self.chunks, self.gaps, self.updated_at_ms)
        other_head = (other.seq, other.ended, other.steps_seen, other.chunks, other.gaps, other.updated_at_ms)
        if head != other_head or self.tensors.keys() != other.tensors.keys():
            return False
        return all(_same_bits(self.tensors[name], other.tensors[name]) for name in self.tensors)

    __hash__ = None  # type: ignore[assignment]


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


_FORBIDDEN_IN_NAME = frozenset(":{}")
_FORBIDDEN_IN_STREAM = frozenset("{}")


@dataclass(frozen=True)
class StateKey:
    """Which stream's record: model name, model version, stream id.

    Model and version may not contain ``:``, ``{`` or ``}``, the stream id may not contain ``{`` or
    ``}``, so the rendered key is unambiguous and its Redis Cluster hash tag is the stream id.
    """

    model: str
    version: str
    stream_id: str

    def __post_init__(self) -> None:
        for label, value, forbidden in (
            ("model", self.model, _FORBIDDEN_IN_NAME),
            ("version", self.version, _FORBIDDEN_IN_NAME),
            ("stream_id", self.stream_id, _FORBIDDEN_IN_STREAM),
        ):
            if not value or forbidden.intersection(value):
                chars = "".join(sorted(forbidden))
                raise ValueError(f"{label} must be non-empty without any of {chars!r}: {value!r}")

    def render(self, prefix: str) -> str:
        """The store key: ``{prefix}:{model}:{version}:{{{stream_id}}}``."""
        return f"{prefix}:{self.model}:{self.version}:{{{self.stream_id}}}"


@dataclass(frozen=True)
class StateWrite:
    """Store ``record`` under ``key`` if the stored record's seq is still ``expected_seq``."""

    key: StateKey
    expected_seq: int | None
    record: StreamRecord
