"""The write-through state cache: the last record this worker stored for each stream of its partitions.

A worker owns a partition's streams while it holds the partition, so the record it stored last is what Redis
holds, and the next chunk of that stream can start from it without a Redis round trip. Redis stays the
source of truth: every write still goes there, fenced as before, and any worker can continue any stream.

The rules, each of which keeps a cached record equal to the stored one or out of the cache:

* **Write-through**: a record enters (or replaces an entry) only when its fenced write was *applied*.
* **Refused**: a write the fence refused drops the stream's entry (someone else wrote; read Redis next).
* **Revoked**: losing a partition drops its streams' entries and bumps the partition's *generation*; a batch
  that started before (its writes finish after the revoke) cannot put anything back: :meth:`StateCache.put`
  takes the generation the batch saw when it started.
* **Ageing**: an entry is used only while it is younger than ``max_age_s`` (by the record's own
  ``updated_at_ms``, set by this worker), well inside the Redis TTL, so a record Redis has expired is
  never served from here.
* **Bounded**: at most ``capacity`` entries, least recently used evicted first.
* **State loss**: when the store's epoch changes (Redis lost its data) everything is dropped.

A stale entry can only come from a writer this worker did not see (a zombie, a rebalance it missed); the
fence then refuses the write computed from it, and the batch runner re-runs the stream from Redis. Hits and
misses are counted in ``rnnstream_state_cache_total{result}``; ``rnnstream_state_cache_entries`` is the
size, read when the metrics are collected (not set on every change: a put is on the hot path).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rnnstream.core.records import StateKey, StreamRecord
from rnnstream.worker.metrics import WorkerMetrics

#: A topic partition as the batch's events name it.
Partition = tuple[str, int]
#: What a batch remembers from its start: the cache's epoch and the partition's revocation count.
Generation = tuple[int, int]


@dataclass(frozen=True, slots=True)
class _Entry:
    record: StreamRecord
    partition: Partition


class StateCache:
    """An LRU of stored records by state key, each remembered with the partition its stream came from."""

    def __init__(self, capacity: int, *, max_age_s: float, metrics: WorkerMetrics | None = None) -> None:
        if capacity < 0:
            raise ValueError(f"capacity must be >= 0, got {capacity}")
        self.capacity = capacity
        self.max_age_ms = int(max_age_s * 1000)
        self.metrics = metrics
        self._entries: OrderedDict[StateKey, _Entry] = OrderedDict()
        self._generations: dict[Partition, int] = {}
        self._epoch = 0  # bumped by clear(): invalidates every batch in flight, whatever its partitions
        if metrics is not None:
            entries = self._entries
            metrics.state_cache_entries.set_function(lambda: len(entries))

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def enabled(self) -> bool:
        """False for a cache of capacity 0 (every lookup misses, nothing is kept)."""
        return self.capacity > 0

    def generations(self, partitions: Iterable[Partition]) -> dict[Partition, Generation]:
        """The current generation of each partition; a batch keeps them from its start for :meth:`put`."""
        return {p: (self._epoch, self._generations.get(p, 0)) for p in partitions}

    def lookup(self, keys: Iterable[StateKey], now_ms: int) -> dict[StateKey, StreamRecord]:
        """The cached, fresh records among ``keys`` (hits); counts hits and misses."""
        found: dict[StateKey, StreamRecord] = {}
        misses = 0
        entries = self._entries
        for key in keys:
            entry = entries.get(key)
            if entry is None or now_ms - entry.record.updated_at_ms > self.max_age_ms:
                misses += 1
                continue
            entries.move_to_end(key)
            found[key] = entry.record
        if self.metrics is not None:
            self.metrics.count_state_cache(hits=len(found), misses=misses)
        return found

    def put(self, key: StateKey, record: StreamRecord, partition: Partition, generation: Generation) -> bool:
        """Remember ``record``, just stored for ``key``, unless ``partition`` was revoked since ``generation``
        (returns False then). A tombstone (an ended stream) is remembered like any record."""
        if not self.capacity or (self._epoch, self._generations.get(partition, 0)) != generation:
            return False
        entries = self._entries
        entries[key] = _Entry(record, partition)
        entries.move_to_end(key)
        while len(entries) > self.capacity:
            entries.popitem(last=False)
        return True

    def drop(self, key: StateKey) -> None:
        """Forget ``key`` (its write was refused: the stored record is someone else's)."""
        self._entries.pop(key, None)

    def revoke(self, partitions: Iterable[Partition]) -> int:
        """Forget every stream of ``partitions`` and bump their generations; returns how many entries went."""
        gone = set(partitions)
        for p in gone:
            self._generations[p] = self._generations.get(p, 0) + 1
        stale = [key for key, entry in self._entries.items() if entry.partition in gone]
        for key in stale:
            del self._entries[key]
        return len(stale)

    def clear(self) -> None:
        """Forget everything (the store lost its data); no batch that started before can put anything back."""
        self._epoch += 1
        self._entries.clear()

    def snapshot(self) -> Mapping[StateKey, StreamRecord]:
        """The cached records (for tests and diagnostics)."""
        return {key: entry.record for key, entry in self._entries.items()}
