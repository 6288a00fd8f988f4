"""One contract for every StateStore: the memory store, Redis, and the cluster store's slot grouping."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import numpy as np
import pytest
import redis
from redis.asyncio import Redis as AsyncRedis
from redis.asyncio import RedisCluster as AsyncRedisCluster

from rnnstream.core.records import StateKey, StateWrite, StreamRecord
from rnnstream.errors import StateCodecError, StateError
from rnnstream.state.codec import encode_record
from rnnstream.state.memory import MemoryStateStore
from rnnstream.state.redis_store import RedisClusterStateStore, RedisStateStore
from rnnstream.state.store import StateEpoch, StateStore, WriteResult

LONG_TTL_S = 600.0


class FakeClock:
    """Seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Harness:
    """A store under test, a short TTL for it, how to let time pass, how to make a second store on the same
    data, and how to lose the store's epoch as a Redis that restarts empty does."""

    name: str
    store: StateStore
    short_ttl_s: float
    elapse: Callable[[float], Awaitable[None]]
    twin: Callable[[], StateStore]
    lose_epoch: Callable[[], Awaitable[None]]

    async def wait_expired(self, key: StateKey) -> StreamRecord | None:
        """Let a short TTL run out; the record still there after a generous wait (normally ``None``)."""
        record: StreamRecord | None = None
        for _ in range(200):  # up to ~20 s on Redis: a guard against hanging, not a speed check
            await self.elapse(self.short_ttl_s)
            record = (await self.store.load_many([key]))[0]
            if record is None:
                return None
        return record


STORES = ["memory", "redis", "redis-cluster-grouping", "redis-cluster"]


@pytest.fixture(params=STORES)
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    """Each store implementation in turn (the cluster store runs its slot grouping on one node)."""
    if request.param == "memory":
        clock = FakeClock()

        async def advance(seconds: float) -> None:
            clock.now += seconds

        memory = MemoryStateStore(clock=clock)

        async def clear() -> None:
            memory.clear()

        yield Harness(
            "memory", memory, short_ttl_s=5.0, elapse=advance, twin=lambda: memory, lose_epoch=clear
        )
        await memory.close()
        return

    prefix: str = request.getfixturevalue("redis_prefix")
    if request.param == "redis-cluster":  # a real three-node cluster: keys of one batch span the nodes
        url = request.getfixturevalue("redis_cluster_url")
        cluster = RedisClusterStateStore.from_url(url, prefix=prefix)
        twins: list[StateStore] = []

        def cluster_twin() -> StateStore:
            twins.append(RedisClusterStateStore.from_url(url, prefix=prefix))
            return twins[-1]

        async def drop_cluster_epoch() -> None:
            client = AsyncRedisCluster.from_url(url)
            for key in cluster.epoch_keys:
                await client.delete(key)
            await client.aclose()

        yield Harness(
            request.param, cluster, 0.3, asyncio.sleep, twin=cluster_twin, lose_epoch=drop_cluster_epoch
        )
        for store in [cluster, *twins]:
            await store.close()
        return
    redis_url: str = request.getfixturevalue("redis_url")
    cls = RedisStateStore if request.param == "redis" else RedisClusterStateStore
    store = cls(AsyncRedis.from_url(redis_url), prefix=prefix)
    made: list[StateStore] = []

    def twin() -> StateStore:
        made.append(cls(AsyncRedis.from_url(redis_url), prefix=prefix))
        return made[-1]

    async def drop_epoch() -> None:
        client = AsyncRedis.from_url(redis_url)
        await client.delete(*store.epoch_keys)
        await client.aclose()

    yield Harness(request.param, store, 0.3, asyncio.sleep, twin=twin, lose_epoch=drop_epoch)
    for each in [store, *made]:
        await each.close()


def new_key(model: str = "kws-gru") -> StateKey:
    return StateKey(model=model, version="3", stream_id=f"mic-{uuid.uuid4().hex}")


def record(seq: int, fill: float = 0.0, *, lstm: bool = False) -> StreamRecord:
    rng = np.random.default_rng(seq)
    h = (rng.standard_normal((2, 16)) + fill).astype(np.float32)
    tensors = {"h": h, "c": -h} if lstm else {"h": h}
    return StreamRecord(
        seq=seq, steps_seen=10 * (seq + 1), chunks=seq + 1, updated_at_ms=1_700_000 + seq, tensors=tensors
    )


async def test_round_trip_is_bit_exact(harness: Harness) -> None:
    special = np.array(
        [[np.nan, -0.0, np.inf, -np.inf], [1e-45, np.finfo(np.float32).max, 1 / 3, -7.25]], dtype=np.float32
    )
    tensors = {"h": special, "c": special[::-1].copy()}
    original = StreamRecord(seq=41, steps_seen=900, chunks=42, gaps=2, updated_at_ms=123, tensors=tensors)
    key = StateKey("kws-lstm", "12", f"ström/ü-{uuid.uuid4().hex}")
    [result] = await harness.store.store_many([StateWrite(key, None, original)], ttl_s=LONG_TTL_S)
    assert result == WriteResult(key, applied=True, stored_seq=41)
    [loaded] = await harness.store.load_many([key])
    assert loaded == original
    assert loaded is not None
    assert loaded.tensors["h"].tobytes() == special.tobytes()
    assert loaded.tensors["h"].dtype == np.float32


async def test_missing_keys_are_none_in_order(harness: Harness) -> None:
    present = new_key()
    await harness.store.store_many([StateWrite(present, None, record(0))], ttl_s=LONG_TTL_S)
    loaded = await harness.store.load_many([new_key(), present, new_key("other")])
    assert [r is None for r in loaded] == [True, False, True]
    assert loaded[1] == record(0)
    assert await harness.store.load_many([]) == []
    assert await harness.store.store_many([], ttl_s=LONG_TTL_S) == []


async def test_fence_refuses_a_write_when_the_seq_moved(harness: Harness) -> None:
    key = new_key()
    await harness.store.store_many([StateWrite(key, None, record(3))], ttl_s=LONG_TTL_S)
    worker_a = StateWrite(key, 3, record(4, fill=1.0))
    worker_b = StateWrite(key, 3, record(4, fill=2.0))
    assert await harness.store.store_many([worker_a], LONG_TTL_S) == [WriteResult(key, True, 4)]
    assert await harness.store.store_many([worker_b], LONG_TTL_S) == [WriteResult(key, False, 4)]
    assert (await harness.store.load_many([key]))[0] == worker_a.record


async def test_fence_under_concurrent_workers(harness: Harness) -> None:
    key = new_key()
    await harness.store.store_many([StateWrite(key, None, record(3))], ttl_s=LONG_TTL_S)
    writes = [StateWrite(key, 3, record(4, fill=float(worker))) for worker in range(4)]
    results = await asyncio.gather(*(harness.store.store_many([w], LONG_TTL_S) for w in writes))
    applied = [w for w, [r] in zip(writes, results, strict=True) if r.applied]
    assert len(applied) == 1
    assert all(r.stored_seq == 4 for [r] in results)
    assert (await harness.store.load_many([key]))[0] == applied[0].record


async def test_fresh_write_refused_when_a_record_exists(harness: Harness) -> None:
    key, missing = new_key(), new_key()
    await harness.store.store_many([StateWrite(key, None, record(0))], ttl_s=LONG_TTL_S)
    results = await harness.store.store_many(
        [StateWrite(key, None, record(0, fill=5.0)), StateWrite(missing, 7, record(8))], ttl_s=LONG_TTL_S
    )
    assert results == [WriteResult(key, False, 0), WriteResult(missing, False, None)]
    assert await harness.store.load_many([key, missing]) == [record(0), None]


async def test_ttl_expiry(harness: Harness) -> None:
    key = new_key()
    await harness.store.store_many([StateWrite(key, None, record(0))], ttl_s=harness.short_ttl_s)
    assert await harness.wait_expired(key) is None
    # an expired stream is gone: a fresh write applies again
    [result] = await harness.store.store_many([StateWrite(key, None, record(0))], ttl_s=LONG_TTL_S)
    assert result.applied


async def test_every_applied_write_sets_the_ttl(harness: Harness) -> None:
    renewed, refused = new_key(), new_key()
    short = harness.short_ttl_s
    await harness.store.store_many(
        [StateWrite(renewed, None, record(0)), StateWrite(refused, None, record(0))], ttl_s=short
    )
    results = await harness.store.store_many(
        [StateWrite(renewed, 0, record(1)), StateWrite(refused, 5, record(6))], ttl_s=LONG_TTL_S
    )
    assert [r.applied for r in results] == [True, False]
    await harness.elapse(short * 3)
    assert (await harness.store.load_many([renewed]))[0] == record(1)
    assert await harness.wait_expired(refused) is None  # the refused write left the short TTL alone


async def test_batch_with_mixed_results(harness: Harness) -> None:
    moved, fenced, new, chained = new_key(), new_key(), new_key(), new_key("lm")
    await harness.store.store_many(
        [StateWrite(moved, None, record(5)), StateWrite(fenced, None, record(1))], ttl_s=LONG_TTL_S
    )
    writes = [
        StateWrite(moved, 4, record(5, fill=9.0)),
        StateWrite(new, None, record(0, lstm=True)),
        StateWrite(fenced, 1, record(2)),
        StateWrite(chained, None, record(0)),
        StateWrite(chained, 0, record(1)),  # applies after the write before it in the same call
        StateWrite(chained, 0, record(1, fill=3.0)),
    ]
    results = await harness.store.store_many(writes, ttl_s=LONG_TTL_S)
    assert results == [
        WriteResult(moved, False, 5),
        WriteResult(new, True, 0),
        WriteResult(fenced, True, 2),
        WriteResult(chained, True, 0),
        WriteResult(chained, True, 1),
        WriteResult(chained, False, 1),
    ]
    loaded = await harness.store.load_many([moved, new, fenced, chained])
    assert loaded == [record(5), record(0, lstm=True), record(2), record(1)]


async def test_tombstone_round_trip(harness: Harness) -> None:
    key = new_key()
    await harness.store.store_many([StateWrite(key, None, record(0))], ttl_s=LONG_TTL_S)
    tombstone = StreamRecord(seq=1, ended=True, steps_seen=20, chunks=2, updated_at_ms=99)
    [result] = await harness.store.store_many([StateWrite(key, 0, tombstone)], ttl_s=LONG_TTL_S)
    assert result.applied
    [loaded] = await harness.store.load_many([key])
    assert loaded == tombstone
    assert loaded is not None and loaded.ended and not loaded.tensors
    [late] = await harness.store.store_many([StateWrite(key, 0, record(1))], ttl_s=LONG_TTL_S)
    assert late == WriteResult(key, False, 1)


async def test_ping_and_bad_ttl(harness: Harness) -> None:
    assert await harness.store.ping()
    with pytest.raises(ValueError, match="ttl_s"):
        await harness.store.store_many([StateWrite(new_key(), None, record(0))], ttl_s=0)


async def test_epoch_is_stable_and_shared(harness: Harness) -> None:
    first = await harness.store.epoch()
    assert len(first.id) == 32 and int(first.id, 16) >= 0  # 128 random bits as hex
    assert first.created_at_ms > 1_600_000_000_000  # Unix milliseconds (2020 or later)
    assert await harness.store.epoch() == first
    await harness.store.store_many([StateWrite(new_key(), None, record(0))], ttl_s=LONG_TTL_S)
    assert await harness.store.epoch() == first  # writing state does not touch it
    assert await harness.twin().epoch() == first  # another client of the same data sees the same one


async def test_epoch_after_data_loss_is_new(harness: Harness) -> None:
    before = await harness.store.epoch()
    await harness.lose_epoch()
    after = await harness.store.epoch()
    assert after.id != before.id
    assert after.created_at_ms >= before.created_at_ms
    assert await harness.twin().epoch() == after


async def test_concurrent_callers_agree_on_one_new_epoch(harness: Harness) -> None:
    await harness.store.epoch()
    await harness.lose_epoch()
    stores = [harness.store, harness.twin(), harness.twin()]
    seen = await asyncio.gather(*(store.epoch() for store in stores for _ in range(4)))
    assert len(set(seen)) == 1


def test_new_epochs_are_random() -> None:
    epochs = {StateEpoch.new(now_s=1_700_000_000.5) for _ in range(100)}
    assert len({epoch.id for epoch in epochs}) == 100
    assert {epoch.created_at_ms for epoch in epochs} == {1_700_000_000_500}


# Redis only: the key layout, bad stored values and error translation.


async def test_redis_key_layout(redis_url: str, redis_prefix: str, raw_redis: redis.Redis) -> None:
    key = new_key()
    store = RedisStateStore.from_url(redis_url, prefix=redis_prefix)
    try:
        await store.store_many([StateWrite(key, None, record(0))], ttl_s=LONG_TTL_S)
    finally:
        await store.close()
    name = f"{redis_prefix}:kws-gru:3:{{{key.stream_id}}}"
    assert key.render(redis_prefix) == name
    assert raw_redis.get(name) == encode_record(record(0))
    assert 0 < raw_redis.pttl(name) <= LONG_TTL_S * 1000


async def test_redis_bad_stored_value(redis_url: str, redis_prefix: str, raw_redis: redis.Redis) -> None:
    bad, good = new_key(), new_key()
    raw_redis.set(bad.render(redis_prefix), b"not a record", px=60_000)
    store = RedisStateStore.from_url(redis_url, prefix=redis_prefix)
    try:
        with pytest.raises(StateCodecError):
            await store.load_many([good, bad])
        with pytest.raises(StateCodecError):
            await store.store_many([StateWrite(good, None, record(0)), StateWrite(bad, None, record(0))], 60)
        assert await store.load_many([good]) == [None]  # nothing of the failed call was written
    finally:
        await store.close()


async def test_redis_epoch_layout(redis_url: str, raw_redis: redis.Redis) -> None:
    prefix = f"rnnstream-test-epoch-{uuid.uuid4().hex[:12]}"
    store = RedisStateStore.from_url(redis_url, prefix=prefix)
    try:
        epoch = await store.epoch()
        stored = raw_redis.get(f"{prefix}:epoch")
        assert stored == f"{epoch.id}:{epoch.created_at_ms}".encode()
        assert raw_redis.ttl(f"{prefix}:epoch") == -1  # never expires
        other = StateEpoch("0123456789abcdef0123456789abcdef", 1_700_000_000_000)
        raw_redis.set(f"{prefix}:epoch", b"0123456789abcdef0123456789abcdef:1700000000000")
        assert await store.epoch() == other  # an existing epoch is read, never replaced
        raw_redis.set(f"{prefix}:epoch", b"garbage")
        with pytest.raises(StateCodecError, match="epoch"):
            await store.epoch()
    finally:
        raw_redis.delete(f"{prefix}:epoch")
        await store.close()


async def test_redis_errors_are_translated() -> None:
    store = RedisStateStore.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    try:
        assert not await store.ping()
        with pytest.raises(StateError):
            await store.epoch()
        with pytest.raises(StateError):
            await store.load_many([new_key()])
        with pytest.raises(StateError):
            await store.store_many([StateWrite(new_key(), None, record(0))], ttl_s=1)
    finally:
        await store.close()


async def test_cluster_epoch_watches_every_shard(redis_cluster_url: str, redis_prefix: str) -> None:
    """Each node of a real three-node cluster holds epoch keys: any one node losing its data changes the epoch."""
    store = RedisClusterStateStore.from_url(redis_cluster_url, prefix=redis_prefix)
    nodes = redis.RedisCluster.from_url(redis_cluster_url)
    try:
        primaries = nodes.get_primaries()
        assert len(primaries) == 3
        owners = {nodes.get_node_from_key(key).name for key in store.epoch_keys}
        assert owners == {node.name for node in primaries}
        assert len(store.epoch_keys) == len(set(store.epoch_keys)) == 64
        seen = [await store.epoch()]
        assert await store.epoch() == seen[0]
        for node in primaries:
            shard = redis.Redis(host=node.host, port=node.port)
            shard.flushall()  # that shard alone loses its data
            shard.close()
            seen.append(await store.epoch())
            assert seen[-1] != seen[-2]
            assert await store.epoch() == seen[-1]
        assert all(nodes.ttl(key) == -1 for key in store.epoch_keys)  # never expire
        assert await store.load_many([new_key()]) == [None]  # the store still works after it all
    finally:
        nodes.close()
        await store.close()


def test_cluster_store_groups_keys_by_slot(redis_url: str) -> None:
    store = RedisClusterStateStore(AsyncRedis.from_url(redis_url), prefix="p")
    a, b = StateKey("m", "1", "stream-a"), StateKey("m", "1", "stream-b")
    names = [k.render("p") for k in (a, b, StateKey("other", "2", "stream-a"), a)]
    assert sorted(store._groups(names)) == [[0, 2, 3], [1]]


@pytest.mark.parametrize(
    ("model", "version", "stream_id"),
    [("", "1", "s"), ("a:b", "1", "s"), ("m", "{1}", "s"), ("m", "1", ""), ("m", "1", "x{y}")],
)
def test_state_key_validation(model: str, version: str, stream_id: str) -> None:
    with pytest.raises(ValueError):
        StateKey(model, version, stream_id)
