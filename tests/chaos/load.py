"""Real inputs through the project's own clients while the faults run, with every send and arrival timed.

Streams alternate between FSDD recordings (log-mel chunks from :func:`rnnstream.clients.audio_sources`) and
SMS messages (one token per chunk from :func:`rnnstream.clients.text_sources`), paced at media speed, a few
open at a time, for as long as the fault plan runs; :class:`PredictionReader` reads every prediction from the
beginning of the topic. The record kept here is all the oracle sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnnstream.clients import (
    EventProducer,
    ModelTarget,
    PredictionReader,
    StreamReport,
    StreamSource,
    audio_sources,
    frames_per_chunk,
    publish_streams,
    resolve_target,
    text_sources,
)
from rnnstream.clients.chunks import Chunk
from rnnstream.datasets import fsdd_split, sms_split
from rnnstream.events import PredictionEvent
from tests.paths import AUDIO_MODEL, FSDD, SMS, TEXT_MODEL


@dataclass(frozen=True)
class Material:
    """What the streams are made of: recordings and messages, taken in turn, round and round."""

    recordings: list[Path]
    messages: list[str]

    @classmethod
    def shared(cls, recordings: int, messages: int, seed: int) -> Material:
        """A seeded sample of the FSDD test split and of the SMS test split (``../shared/data``)."""
        rng = np.random.default_rng(seed)
        audio = fsdd_split(FSDD, "test")
        text = sms_split(SMS, "test")
        picked_audio = [audio[i].path for i in rng.choice(len(audio), recordings, replace=False)]
        picked_text = [text[i].text for i in rng.choice(len(text), messages, replace=False)]
        return cls(picked_audio, picked_text)


@dataclass
class Record:
    """Everything that was sent and received, by wall-clock time."""

    sent: dict[tuple[str, int], float] = field(default_factory=dict)  # (stream, seq) -> when sent
    steps: dict[tuple[str, int], int] = field(default_factory=dict)  # (stream, seq) -> steps in the chunk
    streams: dict[str, StreamReport] = field(default_factory=dict)  # finished streams
    received: list[tuple[PredictionEvent, int, float]] = field(default_factory=list)  # event, partition, when
    started_at: float = 0.0
    producer_done_at: float = 0.0
    reader_done_at: float = 0.0

    def distinct(self) -> set[tuple[str, int]]:
        return {(p.stream_id, p.seq) for p, _, _ in self.received}


@dataclass
class Load:
    """Produce ``material`` through ``bootstrap``/``input_topic`` until :attr:`stop` is set; read predictions."""

    bootstrap: str
    input_topic: str
    prediction_topic: str
    material: Material
    max_active: int = 6
    chunk_ms: float = 200.0
    token_interval_s: float = 0.2
    drain_timeout_s: float = 120.0
    drain_idle_s: float = 20.0
    stop: threading.Event = field(default_factory=threading.Event)
    record: Record = field(default_factory=Record)
    audio: ModelTarget = field(default_factory=lambda: resolve_target(str(AUDIO_MODEL)))
    text: ModelTarget = field(default_factory=lambda: resolve_target(str(TEXT_MODEL)))
    _seen: set[tuple[str, int]] = field(default_factory=set)
    _last_new: float = 0.0

    def _audio_sources(self) -> Iterator[StreamSource]:
        frames = frames_per_chunk(self.chunk_ms, self.audio.log_mel)
        for path in itertools.cycle(self.material.recordings):
            if self.stop.is_set():
                return
            yield audio_sources([path], self.audio.log_mel, frames)[0]

    def _text_sources(self) -> Iterator[StreamSource]:
        for message in itertools.cycle(self.material.messages):
            if self.stop.is_set():
                return
            yield from text_sources([message], interval_s=self.token_interval_s)

    async def _produce(self, target: ModelTarget, sources: Iterator[StreamSource], active: int) -> None:
        def on_chunk(report: StreamReport, chunk: Chunk) -> None:
            self.record.sent[(chunk.stream_id, chunk.seq)] = time.time()
            self.record.steps[(chunk.stream_id, chunk.seq)] = chunk.steps

        def on_done(report: StreamReport) -> None:
            self.record.streams[report.stream_id] = report

        async with EventProducer(self.bootstrap, self.input_topic, client_id="rnnstream-chaos") as producer:
            await publish_streams(
                producer,
                target,
                sources,
                paced=True,
                max_active=active,
                on_chunk=on_chunk,
                on_done=on_done,
            )

    async def run(self) -> Record:
        """Produce until :attr:`stop`, then read until every sent chunk has its prediction (or time is up)."""
        reader = PredictionReader(self.bootstrap, self.prediction_topic, from_beginning=True)
        await reader.start()
        self.record.started_at = time.time()
        reading = asyncio.create_task(self._read(reader))
        try:
            half = max(1, self.max_active // 2)
            await asyncio.gather(
                self._produce(self.audio, self._audio_sources(), half),
                self._produce(self.text, self._text_sources(), half),
            )
            self.record.producer_done_at = time.time()
            deadline = time.monotonic() + self.drain_timeout_s
            while time.monotonic() < deadline and not self.record.sent.keys() <= self._seen:
                if reading.done():
                    break
                last = max(self.record.producer_done_at, self._last_new)
                if time.time() - last > self.drain_idle_s:
                    break  # nothing new for a while: what is missing is lost
                await asyncio.sleep(0.2)
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
            await reader.stop()
            self.record.reader_done_at = time.time()
        return self.record

    async def _read(self, reader: PredictionReader) -> None:
        async for got in reader:
            p = got.event
            now = time.time()
            self.record.received.append((p, got.partition, now))
            if (p.stream_id, p.seq) not in self._seen:
                self._seen.add((p.stream_id, p.seq))
                self._last_new = now
