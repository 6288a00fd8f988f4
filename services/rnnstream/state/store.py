"""The ``StateStore`` port: per-stream records keyed by model, version and stream id.

Two implementations sit beside this module: :mod:`rnnstream.state.memory` and
:mod:`rnnstream.state.redis_store`; ``tests/contract`` runs one suite against both.

The fence rule: a :class:`StateWrite` applies only if the record stored *now* has the seq the new state
was computed from (``expected_seq``; ``None`` means "no record"). Otherwise it is refused and reported
with the stored seq, and newer state is never overwritten. Every applied write sets the idle TTL.
Writes in one ``store_many`` call apply in order, as if one after the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from rnnstream.core.chunk_rule import StreamRecord

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


@dataclass(frozen=True)
class WriteResult:
    """The outcome of one :class:`StateWrite`.

    ``applied`` is false when the fence refused the write; ``stored_seq`` is then the seq of the record
    found (``None``: no record). For an applied write ``stored_seq`` is the new record's seq.
    """

    key: StateKey
    applied: bool
    stored_seq: int | None


class StateStore(Protocol):
    """Where per-stream records live between chunks."""

    async def load_many(self, keys: Sequence[StateKey]) -> list[StreamRecord | None]:
        """The records of ``keys`` in order (``None`` where missing or expired), in one round trip."""
        ...

    async def store_many(self, writes: Sequence[StateWrite], ttl_s: float) -> list[WriteResult]:
        """Apply fenced ``writes`` in order, setting the TTL of each applied one, in one round trip."""
        ...

    async def ping(self) -> bool:
        """True when the store answers."""
        ...

    async def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...


def ttl_ms(ttl_s: float) -> int:
    """The TTL in whole milliseconds (at least 1); raises ``ValueError`` unless ``ttl_s > 0``."""
    if not ttl_s > 0:
        raise ValueError(f"ttl_s must be > 0, got {ttl_s}")
    return max(1, round(ttl_s * 1000))
