"""The load: N streams of audio-feature chunks, encoded as input events, and the producers that send them.

Frames come from a seeded RNG (``synthetic``: log-mel-like values around -6 ± 2) or from the bundled FSDD
recordings (``recorded``: their log-mel features, recordings cycled and concatenated up to the wanted length;
stream ``i`` starts at recording ``i + seed``). Every stream has the same number of chunks; chunk 0 carries
``start``, the last one ``end``. Events are sent in slot order: chunk 0 of every stream, then chunk 1, ...

Events are encoded in the v2 binary format unless :attr:`LoadSpec.wire_format` says 1 (JSON).
``produced_at_ms`` is stamped when a record is handed to the producer: each event is pre-encoded once with a
placeholder that :meth:`EventTemplate.render` replaces (v2: the 8 bytes at its fixed offset; v1: the digits of
the JSON field), so the same bytes (bar the stamp) go to every pipeline's topic.
"""

from __future__ import annotations

import asyncio
import math
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from aiokafka import AIOKafkaProducer
from numpy.typing import NDArray

from rnnstream.events import (
    DEFAULT_WIRE_FORMAT,
    FramesPayload,
    InputEvent,
    WireFormat,
    encode_binary_event,
    encode_input_event,
    event_key,
)
from rnnstream.events.binary import PRODUCED_AT_OFFSET
from rnnstream.repository.manifest import Manifest
from rnnstream.worker.publisher import KeyPartitions

SYNTHETIC_MEAN = -6.0
SYNTHETIC_STD = 2.0
_STAMP = b'"produced_at_ms":0,'
_STAMP_V2 = struct.Struct("<q")


class Source(StrEnum):
    """Where the frames of the streams come from."""

    SYNTHETIC = "synthetic"
    RECORDED = "recorded"


def now_ms() -> int:
    """Wall-clock time in milliseconds, the scale of ``produced_at_ms``."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class LoadSpec:
    """What to generate."""

    streams: int
    seconds: float
    chunk_ms: int
    source: Source
    seed: int
    tag: str
    wire_format: WireFormat = DEFAULT_WIRE_FORMAT


@dataclass(frozen=True)
class EventTemplate:
    """One encoded input event, waiting for its ``produced_at_ms``: the bytes before and after the stamp."""

    key: bytes
    head: bytes
    tail: bytes
    wire_format: WireFormat = DEFAULT_WIRE_FORMAT

    def render(self, produced_at_ms: int) -> bytes:
        """The event's bytes stamped with ``produced_at_ms``."""
        if self.wire_format == 2:
            return self.head + _STAMP_V2.pack(produced_at_ms) + self.tail
        return b"%s%d,%s" % (self.head, produced_at_ms, self.tail)


def _template(
    key: bytes,
    wire_format: WireFormat,
    *,
    stream_id: str,
    seq: int,
    model: str,
    start: bool,
    end: bool,
    piece: NDArray[np.float32],
) -> EventTemplate:
    if wire_format == 2:
        raw = encode_binary_event(
            stream_id=stream_id, seq=seq, model=model, start=start, end=end, produced_at_ms=0, frames=piece
        )
        stamp_end = PRODUCED_AT_OFFSET + _STAMP_V2.size
        return EventTemplate(key, raw[:PRODUCED_AT_OFFSET], raw[stamp_end:], wire_format)
    event = InputEvent(
        v=1,
        stream_id=stream_id,
        seq=seq,
        model=model,
        start=start,
        end=end,
        produced_at_ms=0,
        payload=FramesPayload.from_array(piece),
    )
    raw = encode_input_event(event)
    head, sep, tail = raw.partition(_STAMP)
    if not sep:
        raise AssertionError("encoded event without its produced_at_ms field")
    return EventTemplate(key, head + _STAMP[:-2], tail, wire_format)


@dataclass(frozen=True)
class Workload:
    """The streams of one run, as events in send order."""

    model: str
    stream_ids: list[str]
    chunks_per_stream: int
    frames_per_chunk: int
    total_frames: int
    events: list[EventTemplate]

    @property
    def total_chunks(self) -> int:
        """Events (chunks) in the run: one prediction is expected for each."""
        return len(self.events)


def frames_per_chunk(manifest: Manifest, chunk_ms: int) -> int:
    """Frames in ``chunk_ms`` of audio at the model's hop (10 ms hops: 100 ms → 10 frames)."""
    cfg = manifest.features
    if cfg is None:
        raise ValueError(f"model {manifest.name!r} is not an audio model")
    hop_ms = 1000.0 * cfg.hop_length / cfg.sample_rate
    return max(1, round(chunk_ms / hop_ms))


def _recorded(manifest: Manifest) -> list[NDArray[np.float32]]:
    from rnnstream.features.audio import file_features
    from rnnstream.samples import sample_recordings

    assert manifest.features is not None
    return [file_features(path, manifest.features) for path, _ in sample_recordings()]


def _stream_frames(
    spec: LoadSpec,
    index: int,
    n_frames: int,
    width: int,
    rng: np.random.Generator,
    recordings: list[NDArray[np.float32]],
) -> NDArray[np.float32]:
    if spec.source is Source.SYNTHETIC:
        return rng.normal(SYNTHETIC_MEAN, SYNTHETIC_STD, (n_frames, width)).astype(np.float32)
    parts, have, k = [], 0, index + spec.seed
    while have < n_frames:
        part = recordings[k % len(recordings)]
        parts.append(part)
        have += len(part)
        k += 1
    return np.concatenate(parts)[:n_frames].astype(np.float32)


def build_workload(spec: LoadSpec, manifest: Manifest) -> Workload:
    """Generate the streams of ``spec`` for the audio model described by ``manifest``, encoded in
    ``spec.wire_format``."""
    per_chunk = frames_per_chunk(manifest, spec.chunk_ms)
    n_chunks = max(1, math.ceil(spec.seconds * 1000 / spec.chunk_ms))
    n_frames = n_chunks * per_chunk
    width = manifest.feature_width
    assert width is not None
    rng = np.random.default_rng(spec.seed)
    recordings = _recorded(manifest) if spec.source is Source.RECORDED else []
    ids = [f"bench-{spec.tag}-{i:05d}" for i in range(spec.streams)]
    per_stream = [_stream_frames(spec, i, n_frames, width, rng, recordings) for i in range(spec.streams)]
    events: list[EventTemplate] = []
    for seq in range(n_chunks):
        for sid, frames in zip(ids, per_stream, strict=True):
            piece = frames[seq * per_chunk : (seq + 1) * per_chunk]
            events.append(
                _template(
                    event_key(sid),
                    spec.wire_format,
                    stream_id=sid,
                    seq=seq,
                    model=manifest.name,
                    start=seq == 0,
                    end=seq == n_chunks - 1,
                    piece=piece,
                )
            )
    return Workload(manifest.name, ids, n_chunks, per_chunk, n_frames * spec.streams, events)


def make_producer(bootstrap: str, *, linger_ms: int) -> AIOKafkaProducer:
    """A producer that waits for every replica (``acks=all``), without idempotence (tansu lacks it)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=linger_ms
    )


@dataclass(frozen=True)
class SendReport:
    """When the first and the last event were handed to the producer (ms), and how many."""

    first_ms: int
    last_ms: int
    count: int

    @property
    def rate(self) -> float | None:
        """Events per second the generator actually sent."""
        span = (self.last_ms - self.first_ms) / 1000.0
        return self.count / span if span > 0 else None


async def key_partitions(producer: AIOKafkaProducer, topic: str) -> Callable[[bytes], int]:
    """The partition of ``topic`` that the producer's default partitioner (murmur2, the Java client's) gives
    each key, worked out once per key: the generator sends every stream's key again with every chunk, and
    murmur2 in Python costs about 4 µs a record, CPU the bench process shares with the pipeline under test.
    The worker's :class:`~rnnstream.worker.publisher.KeyPartitions` does the remembering."""
    keys = KeyPartitions()
    keys.use(sorted(await producer.partitions_for(topic)))
    return keys.of


async def produce_all(
    producer: AIOKafkaProducer,
    topic: str,
    events: Sequence[EventTemplate],
    on_sent: Callable[[int], None] = lambda n: None,
) -> SendReport:
    """Send every event as fast as the producer takes them; returns once the broker acknowledged all."""
    futures = []
    partition_of = await key_partitions(producer, topic)
    first = now_ms()
    for i, e in enumerate(events):
        futures.append(
            await producer.send(topic, e.render(now_ms()), key=e.key, partition=partition_of(e.key))
        )
        if i % 256 == 255:
            on_sent(256)
    on_sent(len(events) % 256)
    last = now_ms()
    await asyncio.gather(*futures)
    return SendReport(first, last, len(events))


async def produce_paced(
    producer: AIOKafkaProducer,
    topic: str,
    events: Sequence[EventTemplate],
    *,
    streams: int,
    chunk_ms: int,
    on_sent: Callable[[int], None] = lambda n: None,
) -> SendReport:
    """Send at real-time pace: each stream one chunk every ``chunk_ms``, streams staggered evenly over one
    chunk period (event ``k`` is due ``k * chunk_ms / streams`` ms after the start)."""
    partition_of = await key_partitions(producer, topic)
    loop = asyncio.get_running_loop()
    interval = chunk_ms / 1000.0 / streams
    pending: list[asyncio.Future[object]] = []
    started = loop.time()
    first = now_ms()
    i = 0
    while i < len(events):
        due = min(len(events), int((loop.time() - started) / interval) + 1)
        sent = due - i
        while i < due:
            e = events[i]
            pending.append(
                await producer.send(topic, e.render(now_ms()), key=e.key, partition=partition_of(e.key))
            )
            i += 1
        if sent:
            on_sent(sent)
            pending = unacknowledged(pending)
        if i < len(events):
            await asyncio.sleep(max(0.0, started + i * interval - loop.time()))
    last = now_ms()
    await asyncio.gather(*pending)
    return SendReport(first, last, len(events))


def unacknowledged(futures: list[asyncio.Future[object]]) -> list[asyncio.Future[object]]:
    """The sends still waiting for the broker; raises what a finished one raised. Pruned as the paced
    producer goes: one ``gather`` over every send of a run at its end would hold this process's loop (which
    also runs the prediction consumer) for tens of milliseconds, just as the last chunks are timed."""
    waiting = []
    for f in futures:
        if not f.done():
            waiting.append(f)
        elif f.exception() is not None:
            raise f.exception()  # type: ignore[misc]
    return waiting
