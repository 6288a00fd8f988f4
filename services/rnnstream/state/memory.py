"""In-process :class:`~rnnstream.state.store.StateStore`, for tests and single-process runs.

Records are immutable values, so they are kept as they are (no encoding). Time comes from an injected
clock (seconds, ``time.monotonic`` by default), so TTL expiry is testable without sleeping. Each call
runs without awaiting, so it is atomic with respect to other tasks on the same event loop.

:meth:`MemoryStateStore.clear` forgets every record and the epoch, as a Redis restarted without persistence
does, so tests can lose the store's data on purpose.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from rnnstream.core.records import StateKey, StateWrite, StreamRecord
from rnnstream.errors import StateError
from rnnstream.state.store import StateEpoch, WriteResult, ttl_ms


class MemoryStateStore:
    """A dict of records with per-key expiry."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[StateKey, tuple[StreamRecord, float]] = {}
        self._epoch: StateEpoch | None = None
        self._closed = False

    def _get(self, key: StateKey, now: float) -> StreamRecord | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        record, expires_at = entry
        if now >= expires_at:
            del self._entries[key]
            return None
        return record

    def _check_open(self) -> None:
        if self._closed:
            raise StateError("the memory state store is closed")

    async def load_many(self, keys: Sequence[StateKey]) -> list[StreamRecord | None]:
        """The records of ``keys`` in order; ``None`` where missing or expired."""
        self._check_open()
        now = self._clock()
        return [self._get(key, now) for key in keys]

    async def store_many(self, writes: Sequence[StateWrite], ttl_s: float) -> list[WriteResult]:
        """Apply fenced writes in order; each applied one lives ``ttl_s`` seconds from now."""
        self._check_open()
        lifetime = ttl_ms(ttl_s) / 1000
        now = self._clock()
        results: list[WriteResult] = []
        for write in writes:
            current = self._get(write.key, now)
            stored_seq = current.seq if current is not None else None
            if stored_seq != write.expected_seq:
                results.append(WriteResult(write.key, applied=False, stored_seq=stored_seq))
                continue
            self._entries[write.key] = (write.record, now + lifetime)
            results.append(WriteResult(write.key, applied=True, stored_seq=write.record.seq))
        return results

    async def epoch(self) -> StateEpoch:
        """This store's epoch, made on the first call (and again after :meth:`clear`)."""
        self._check_open()
        if self._epoch is None:
            self._epoch = StateEpoch.new()
        return self._epoch

    async def ping(self) -> bool:
        """True while open."""
        return not self._closed

    def clear(self) -> None:
        """Lose all data, the epoch included, like a Redis restarted without persistence."""
        self._entries.clear()
        self._epoch = None

    async def close(self) -> None:
        """Forget everything; later calls raise :class:`StateError`."""
        self.clear()
        self._closed = True

    def __len__(self) -> int:
        """Number of entries held, expired ones included until next touched."""
        return len(self._entries)
