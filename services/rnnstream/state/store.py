"""The ``StateStore`` port: per-stream records keyed by model, version and stream id.

Two implementations sit beside this module: :mod:`rnnstream.state.memory` and
:mod:`rnnstream.state.redis_store`; ``tests/contract`` runs one suite against both.

The values it works on (:class:`StreamRecord`, :class:`StateKey`, :class:`StateWrite`) belong to the pure core
(:mod:`rnnstream.core.records`); this module is the port over them.

The fence rule: a :class:`StateWrite` applies only if the record stored *now* has the seq the new state
was computed from (``expected_seq``; ``None`` means "no record"). Otherwise it is refused and reported
with the stored seq, and newer state is never overwritten. Every applied write sets the idle TTL.
Writes in one ``store_many`` call apply in order, as if one after the other.

The epoch: every store holds one :class:`StateEpoch`, a random id made the first time anyone asks for it
(``epoch()`` creates it when missing, atomically, so concurrent callers agree on one). It lives as long as the
store's data: a Redis that restarts without persistence, is flushed, or fails over to a replica that never
had the key comes back without it, and the next ``epoch()`` makes a new one. A caller that sees the epoch
change knows the store lost its data (``rnnstream.worker.epoch``).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from rnnstream.core.records import StateKey, StateWrite, StreamRecord


@dataclass(frozen=True)
class WriteResult:
    """The outcome of one :class:`StateWrite`.

    ``applied`` is false when the fence refused the write; ``stored_seq`` is then the seq of the record
    found (``None``: no record). For an applied write ``stored_seq`` is the new record's seq.
    """

    key: StateKey
    applied: bool
    stored_seq: int | None


@dataclass(frozen=True)
class StateEpoch:
    """The identity of one lifetime of a store's data: a random 128-bit id (32 hex digits) and when it was
    made (Unix time, milliseconds, by the clock of whoever made it)."""

    id: str
    created_at_ms: int

    @classmethod
    def new(cls, now_s: float | None = None) -> StateEpoch:
        """A fresh epoch with a random id, created ``now_s`` (default: the wall clock now)."""
        now = time.time() if now_s is None else now_s
        return cls(id=secrets.token_hex(16), created_at_ms=int(now * 1000))


def epoch_key(prefix: str) -> str:
    """The store key of the epoch: ``{prefix}:epoch`` (no state key has only two parts)."""
    return f"{prefix}:epoch"


class StateStore(Protocol):
    """Where per-stream records live between chunks."""

    async def load_many(self, keys: Sequence[StateKey]) -> list[StreamRecord | None]:
        """The records of ``keys`` in order (``None`` where missing or expired), in one round trip."""
        ...

    async def store_many(self, writes: Sequence[StateWrite], ttl_s: float) -> list[WriteResult]:
        """Apply fenced ``writes`` in order, setting the TTL of each applied one, in one round trip."""
        ...

    async def epoch(self) -> StateEpoch:
        """The store's epoch, created (atomically, once) when it has none; one round trip."""
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
