"""Redis :class:`~rnnstream.state.store.StateStore` on ``redis.asyncio``.

``load_many`` is one ``MGET``; ``store_many`` is one call of one Lua script (``EVALSHA``) that checks
every key's fence and ``SET key value PX ttl`` for those that pass. The fence compares the 8 raw seq
bytes at a fixed offset of the stored value (see :mod:`rnnstream.state.codec`), so the script never
parses numbers. A stored value without the ``RNS1`` magic fails the whole call before anything is
written (:class:`~rnnstream.errors.StateCodecError`).

:class:`RedisClusterStateStore` does the same per hash slot: keys are hash-tagged on the stream id, so
it sends one ``MGET`` and one script call per slot group, concurrently.

The epoch is one string key, ``{prefix}:epoch`` without a TTL, read or created by one small script
(``GET``, else ``SET`` a fresh one): one round trip, and concurrent workers agree on one epoch. In a cluster
one key would watch one shard only, so :class:`RedisClusterStateStore` keeps :data:`EPOCH_SLOT_SAMPLES` of
them, ``{prefix}:epoch:{eN}``, hash-tagged into slots spread evenly over the 16384, each created on its own; its
epoch is a digest of them all, so any shard that owns one of those slots and loses its data changes it.

``ping`` and ``epoch`` are safe to repeat, so each tries once more on a connection error: a pooled connection
that went stale while Redis restarted fails its first command, and a fresh one then answers. The other calls
are not repeated here (a fenced write that applied but whose reply was lost would be refused the second time).

Redis errors are translated at this boundary: ``raise StateError(...) from exc``.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Self, TypeVar

from redis.asyncio import Redis, RedisCluster
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from rnnstream.core.records import StateKey, StateWrite, StreamRecord
from rnnstream.errors import ConfigurationError, StateCodecError, StateError
from rnnstream.state.codec import (
    decode_epoch,
    decode_record,
    decode_seq,
    encode_epoch,
    encode_record,
    encode_seq,
)
from rnnstream.state.store import StateEpoch, WriteResult, epoch_key, ttl_ms

DEFAULT_PREFIX = "rnnstream"
_BAD_VALUE = "RNS_BADVALUE"

# KEYS: state keys. ARGV[1]: TTL in ms; for key i, ARGV[2i] is the expected seq as 8 raw bytes
# ('' = no record expected) and ARGV[2i+1] the new value. Per key it returns 1 (applied),
# 0 (refused, no record) or the stored 8 seq bytes (refused).
FENCED_SET_LUA = """
local current = {}
for _, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  if value and (string.len(value) < 16 or string.sub(value, 1, 4) ~= 'RNS1') then
    return redis.error_reply('RNS_BADVALUE ' .. key)
  end
  current[key] = value
end
local results = {}
for i, key in ipairs(KEYS) do
  local value = current[key]
  local expected = ARGV[2 * i]
  local pass
  if value then pass = string.sub(value, 9, 16) == expected else pass = expected == '' end
  if pass then
    local new = ARGV[2 * i + 1]
    redis.call('SET', key, new, 'PX', ARGV[1])
    current[key] = new
    results[i] = 1
  elseif value then
    results[i] = string.sub(value, 9, 16)
  else
    results[i] = 0
  end
end
return results
"""

# KEYS[1]: the epoch key; ARGV[1]: a fresh epoch, stored only when the key is missing. Returns the epoch now
# stored (the existing one, or ARGV[1]).
EPOCH_LUA = """
local current = redis.call('GET', KEYS[1])
if current then return current end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
"""

RedisClient = Redis | RedisCluster
T = TypeVar("T")


class RedisStateStore:
    """State records in one Redis server (or any client whose multi-key commands reach one node).

    The store owns ``client`` and closes it in :meth:`close`. The client must return bytes
    (``decode_responses=False``).
    """

    def __init__(self, client: RedisClient, prefix: str = DEFAULT_PREFIX) -> None:
        if client.get_connection_kwargs().get("decode_responses"):
            raise ConfigurationError("the state store needs a Redis client with decode_responses=False")
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(FENCED_SET_LUA)
        self._epoch_script = client.register_script(EPOCH_LUA)

    @classmethod
    def from_url(cls, url: str, prefix: str = DEFAULT_PREFIX, **client_kwargs: Any) -> Self:
        """A store on a new client for ``url`` (``redis://``, ``rediss://``, ``unix://``)."""
        return cls(Redis.from_url(url, decode_responses=False, **client_kwargs), prefix)

    @property
    def prefix(self) -> str:
        """The key prefix of every record this store touches."""
        return self._prefix

    def _groups(self, names: Sequence[str]) -> list[list[int]]:
        """Positions of ``names`` sent together; one group here, one per slot in a cluster."""
        return [list(range(len(names)))]

    async def load_many(self, keys: Sequence[StateKey]) -> list[StreamRecord | None]:
        """The records of ``keys`` in order: one ``MGET`` (per slot group)."""
        if not keys:
            return []
        names = [key.render(self._prefix) for key in keys]
        groups = self._groups(names)
        try:
            replies = await asyncio.gather(*(self._client.mget([names[i] for i in g]) for g in groups))
        except RedisError as exc:
            raise StateError(f"loading {len(names)} state records failed: {exc}") from exc
        records: list[StreamRecord | None] = [None] * len(names)
        for group, values in zip(groups, replies, strict=True):
            for position, value in zip(group, values, strict=True):
                if value is not None:
                    records[position] = _decode(names[position], value, decode_record)
        return records

    async def store_many(self, writes: Sequence[StateWrite], ttl_s: float) -> list[WriteResult]:
        """Apply fenced writes in order: one script call (per slot group)."""
        px = ttl_ms(ttl_s)
        if not writes:
            return []
        names = [write.key.render(self._prefix) for write in writes]
        fences = [b"" if w.expected_seq is None else encode_seq(w.expected_seq) for w in writes]
        # before any I/O; the worker hands over the bytes it already encoded
        values = [w.encoded if w.encoded is not None else encode_record(w.record) for w in writes]
        groups = self._groups(names)
        try:
            replies = await asyncio.gather(
                *(self._run_script(px, [(names[i], fences[i], values[i]) for i in g]) for g in groups)
            )
        except ResponseError as exc:
            if _BAD_VALUE in str(exc):
                raise StateCodecError(f"a stored state value is not an RNS1 record: {exc}") from exc
            raise StateError(f"storing {len(names)} state records failed: {exc}") from exc
        except RedisError as exc:
            raise StateError(f"storing {len(names)} state records failed: {exc}") from exc
        results: list[WriteResult | None] = [None] * len(writes)
        for group, group_replies in zip(groups, replies, strict=True):
            for position, reply in zip(group, group_replies, strict=True):
                results[position] = _result(writes[position], reply)
        return [result for result in results if result is not None]

    async def _run_script(self, px: int, entries: list[tuple[str, bytes, bytes]]) -> list[Any]:
        args: list[bytes | int] = [px]
        for _, fence, value in entries:
            args += [fence, value]
        reply = await self._script(keys=[name for name, _, _ in entries], args=args)
        if not isinstance(reply, list) or len(reply) != len(entries):
            raise StateError(f"unexpected reply from the fence script: {reply!r}")
        return reply

    @property
    def epoch_keys(self) -> list[str]:
        """The keys that hold the epoch: ``{prefix}:epoch``."""
        return [epoch_key(self._prefix)]

    async def epoch(self) -> StateEpoch:
        """The epoch, each of :attr:`epoch_keys` created when missing: one script call per key (one here).

        The calls go one after the other, so a cluster store's check holds one pooled connection at a time and
        never crowds out the batches' calls."""
        epochs = [await self._epoch_at(key) for key in self.epoch_keys]
        return epochs[0] if len(epochs) == 1 else _digest(epochs)

    async def _epoch_at(self, key: str) -> StateEpoch:
        fresh = encode_epoch(StateEpoch.new())  # the same candidate if the call is repeated
        try:
            raw = await _once_more_on_connection_error(lambda: self._epoch_script(keys=[key], args=[fresh]))
        except RedisError as exc:
            raise StateError(f"reading the state epoch {key} failed: {exc}") from exc
        return _decode(key, raw, decode_epoch)

    async def ping(self) -> bool:
        """True when Redis answers ``PING`` (on a fresh connection if a pooled one had gone stale)."""
        try:
            return bool(await _once_more_on_connection_error(self._client.ping))
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        """Close the client and its connections."""
        try:
            await self._client.aclose()
        except RedisError as exc:
            raise StateError(f"closing the Redis client failed: {exc}") from exc


class RedisClusterStateStore(RedisStateStore):
    """State records in a Redis Cluster: one ``MGET`` and one script call per hash-slot group.

    Groups run concurrently; a failure in one group does not undo the writes of the others.
    """

    @classmethod
    def from_url(cls, url: str, prefix: str = DEFAULT_PREFIX, **client_kwargs: Any) -> Self:
        """A store on a new cluster client for ``url`` (any node of the cluster)."""
        return cls(RedisCluster.from_url(url, decode_responses=False, **client_kwargs), prefix)

    @property
    def epoch_keys(self) -> list[str]:
        """``{prefix}:epoch:{eN}`` for :data:`EPOCH_SLOT_SAMPLES` tags whose slots are spread evenly."""
        return [f"{epoch_key(self._prefix)}:{{{tag}}}" for tag in _spread_tags(EPOCH_SLOT_SAMPLES)]

    def _groups(self, names: Sequence[str]) -> list[list[int]]:
        slots: dict[int, list[int]] = {}
        for position, name in enumerate(names):
            slots.setdefault(key_slot(name.encode("utf-8")), []).append(position)
        return list(slots.values())


CLUSTER_SLOTS = 16384
EPOCH_SLOT_SAMPLES = 64
"""Epoch keys of a cluster store: one in each 256-slot range, so every shard that owns 256 contiguous slots
(every shard of a cluster of up to 64 evenly split primaries) holds at least one."""


@functools.cache
def _spread_tags(n: int) -> tuple[str, ...]:
    """``n`` hash tags ``eN``, the i-th hashing into the i-th of ``n`` equal slot ranges."""
    width = CLUSTER_SLOTS // n
    found: dict[int, str] = {}
    counter = 0
    while len(found) < n:
        tag = f"e{counter}"
        found.setdefault(key_slot(tag.encode("ascii")) // width, tag)
        counter += 1
    return tuple(found[i] for i in range(n))


def _digest(epochs: Sequence[StateEpoch]) -> StateEpoch:
    """One epoch standing for several: a new one whenever any of them is new."""
    joined = ":".join(epoch.id for epoch in epochs).encode("ascii")
    return StateEpoch(
        id=hashlib.sha256(joined).hexdigest()[:32],
        created_at_ms=max(epoch.created_at_ms for epoch in epochs),
    )


async def _once_more_on_connection_error(call: Callable[[], Awaitable[T]]) -> T:
    """``call()``, and once more if it failed to connect or lost its connection (the client has dropped
    the broken connection by then, so the second try gets a fresh one)."""
    try:
        return await call()
    except RedisConnectionError:
        return await call()


def _decode(name: str, value: object, decoder: Callable[[bytes], T]) -> T:
    """``decoder(value)`` for the value stored under ``name``; a :class:`StateCodecError` names the key."""
    if not isinstance(value, bytes):
        raise StateCodecError(f"{name}: expected bytes from Redis, got {type(value).__name__}")
    try:
        return decoder(value)
    except StateCodecError as exc:
        raise StateCodecError(f"{name}: {exc}") from exc


def _result(write: StateWrite, reply: object) -> WriteResult:
    if reply == 1:
        return WriteResult(write.key, applied=True, stored_seq=write.record.seq)
    if reply == 0:
        return WriteResult(write.key, applied=False, stored_seq=None)
    if isinstance(reply, bytes):
        return WriteResult(write.key, applied=False, stored_seq=decode_seq(reply))
    raise StateError(f"unexpected fence result {reply!r} for {write.key}")
