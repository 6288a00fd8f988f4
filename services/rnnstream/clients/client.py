"""``RnnstreamClient``: a small async API to send chunks, utterances, files and texts and get predictions.

::

    async with RnnstreamClient("127.0.0.1:9092") as client:
        sent = await client.send_audio_file("recording.flac")
        final = await client.wait_final(sent.stream_id, timeout=30)
        print(final.label, final.scores[final.label])

The client reads the prediction topic from the moment it is entered (so nothing sent afterwards is missed)
and keeps, per stream, the predictions seen so far (the last ``history`` of each, for the last
``max_streams`` streams): :meth:`RnnstreamClient.wait_final` and :meth:`RnnstreamClient.predictions` for
a stream find predictions that arrived before they were called.

Raw audio can go instead of frames (:meth:`RnnstreamClient.send_pcm_file`, :meth:`RnnstreamClient.send_pcm`):
the worker then runs the model's front-end. With ``segment="vad"`` it cuts the stream into utterances, and
each utterance gets its own final prediction (``PredictionEvent.utterance`` says which); a stream's
predictions then go on after a final one.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from rnnstream.clients.audio_source import audio_sources, frames_per_chunk
from rnnstream.clients.chunks import Chunk, StreamReport, StreamSource, new_stream_id, now_ms
from rnnstream.clients.consumer import PredictionReader
from rnnstream.clients.pcm_source import DEFAULT_PACKET_MS, pcm_sources, to_pcm
from rnnstream.clients.producer import DEFAULT_BROKER, EventProducer, Idempotence
from rnnstream.clients.publishing import publish_streams
from rnnstream.clients.target import DEFAULT_AUDIO_MODEL, DEFAULT_TEXT_MODEL, ModelTarget, resolve_target
from rnnstream.clients.text_source import text_sources
from rnnstream.errors import InputError, RnnstreamError, ServiceError
from rnnstream.events import DEFAULT_WIRE_FORMAT, PredictionEvent, WireFormat
from rnnstream.events.chunk_event import PcmEncoding, PcmSegment
from rnnstream.events.models import DEFAULT_INPUT_TOPIC, DEFAULT_PREDICTION_TOPIC
from rnnstream.features.audio import FeatureStream
from rnnstream.repository import DEFAULT_REPOSITORY

_CLOSED = None  # what a subscriber queue receives when the client closes


class RnnstreamClient:
    """Producer and prediction reader in one async context manager (see the module docstring).

    Chunks go out in ``wire_format`` 2 (binary, the default) or 1 (JSON); see docs/events.md.
    """

    def __init__(
        self,
        broker: str = DEFAULT_BROKER,
        *,
        input_topic: str = DEFAULT_INPUT_TOPIC,
        prediction_topic: str = DEFAULT_PREDICTION_TOPIC,
        repository: Path | str = DEFAULT_REPOSITORY,
        audio_model: str = DEFAULT_AUDIO_MODEL,
        text_model: str = DEFAULT_TEXT_MODEL,
        listen: bool = True,
        from_beginning: bool = False,
        idempotence: Idempotence = "auto",
        wire_format: WireFormat = DEFAULT_WIRE_FORMAT,
        history: int = 1000,
        max_streams: int = 1000,
    ) -> None:
        self.repository = Path(repository)
        self._models = {"audio": audio_model, "text": text_model}
        self._targets: dict[str, ModelTarget] = {}
        self._producer = EventProducer(broker, input_topic, wire_format=wire_format, idempotence=idempotence)
        self._reader = (
            PredictionReader(broker, prediction_topic, from_beginning=from_beginning) if listen else None
        )
        self._history: OrderedDict[str, deque[PredictionEvent]] = OrderedDict()
        self._finals: OrderedDict[str, PredictionEvent] = OrderedDict()
        self._history_len, self._max_streams = history, max_streams
        self._subscribers: list[tuple[str | None, asyncio.Queue[PredictionEvent | None]]] = []
        self._waiters: dict[str, list[asyncio.Future[PredictionEvent]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None

    # --- lifecycle --------------------------------------------------------------------------------
    async def __aenter__(self) -> RnnstreamClient:
        await self._producer.start()
        if self._reader is not None:
            try:
                await self._reader.start()
            except BaseException:
                await self._producer.stop()
                raise
            self._task = asyncio.create_task(self._dispatch(), name="rnnstream-client-predictions")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                await self._producer.flush()
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop reading and producing; open iterators end, waiters get :class:`ServiceError`."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._reader is not None:
            await self._reader.stop()
        await self._producer.stop()
        self._shut(ServiceError("the client is closed"))

    # --- sending ----------------------------------------------------------------------------------
    def target(self, task: str, model: str | None = None) -> ModelTarget:
        """The resolved model for ``task`` (``audio``/``text``), the client's default unless ``model``."""
        name = model or self._models[task]
        if name not in self._targets:
            self._targets[name] = resolve_target(name, self.repository)
        return self._targets[name].require("audio" if task == "audio" else "text")

    async def send_frames(
        self,
        stream_id: str,
        frames: npt.ArrayLike,
        seq: int,
        *,
        start: bool = False,
        end: bool = False,
        model: str | None = None,
    ) -> None:
        """Send one chunk of feature frames ``[T, F]`` and wait until the broker has it."""
        chunk = Chunk(stream_id, seq, start, end, frames=np.asarray(frames, dtype=np.float32))
        await self._producer.send_and_wait(chunk.to_event(self.target("audio", model), now_ms()))

    async def send_audio_file(
        self,
        path: Path | str,
        *,
        stream_id: str | None = None,
        chunk_ms: float = 100.0,
        realtime: bool = False,
        model: str | None = None,
    ) -> StreamReport:
        """Stream a whole file (any format, rate, channels) as chunks; returns what was sent."""
        target = self.target("audio", model)
        chunk_frames = frames_per_chunk(chunk_ms, target.log_mel)
        sources = audio_sources([path], target.log_mel, chunk_frames, stream_id=stream_id)
        return await self._publish(target, sources, paced=realtime)

    async def send_pcm(
        self,
        stream_id: str,
        samples: npt.ArrayLike,
        sample_rate: int,
        *,
        seq: int,
        start: bool = False,
        end: bool = False,
        segment: PcmSegment = "none",
        encoding: PcmEncoding = "s16le",
        model: str | None = None,
    ) -> None:
        """Send one packet of raw audio (``[n]`` or ``[n, channels]`` at ``sample_rate``, 8 to 192 kHz, at
        most 1 s) and wait until the broker has it. For ``s16le`` give int16 samples (sent exactly) or floats
        in [-1, 1] (``x * 32768`` rounded); for ``f32le`` floats. Every packet of a stream must keep the
        first one's rate, channels, encoding and ``segment``. Raises :class:`InputError` for audio the
        format refuses."""
        pcm = to_pcm(samples, sample_rate, encoding=encoding, segment=segment)
        chunk = Chunk(stream_id, seq, start, end, pcm=pcm)
        await self._producer.send_and_wait(chunk.to_event(self.target("audio", model), now_ms()))

    async def send_pcm_file(
        self,
        path: Path | str,
        *,
        stream_id: str | None = None,
        packet_ms: float = DEFAULT_PACKET_MS,
        encoding: PcmEncoding = "s16le",
        segment: PcmSegment = "none",
        realtime: bool = False,
        model: str | None = None,
    ) -> StreamReport:
        """Stream a whole file as raw PCM packets of ``packet_ms`` (its own rate and channels; the worker
        runs the front-end), as ``rnnstream produce audio --pcm`` does; ``segment="vad"`` lets the worker
        cut it into utterances. Returns what was sent (``steps``: samples per channel)."""
        target = self.target("audio", model)
        sources = pcm_sources(
            [path], packet_ms=packet_ms, encoding=encoding, segment=segment, stream_id=stream_id
        )
        return await self._publish(target, sources, paced=realtime)

    async def send_audio(
        self,
        samples: npt.NDArray[Any],
        sample_rate: int,
        *,
        stream_id: str | None = None,
        chunk_ms: float = 100.0,
        model: str | None = None,
    ) -> StreamReport:
        """Stream one utterance held in memory (``[n]`` or ``[n, channels]`` at ``sample_rate``)."""
        target = self.target("audio", model)
        chunk_frames = frames_per_chunk(chunk_ms, target.log_mel)
        front_end = FeatureStream(target.log_mel, sample_rate)
        frames = np.concatenate([front_end.push(samples), front_end.flush()])
        total = len(frames)
        if total == 0:
            raise InputError("audio too short: not one feature frame")
        sid = stream_id or new_stream_id("audio")
        for seq, first in enumerate(range(0, total, chunk_frames)):
            part = frames[first : first + chunk_frames]
            chunk = Chunk(sid, seq, seq == 0, first + chunk_frames >= total, frames=part)
            await self._producer.send(chunk.to_event(target, now_ms()))
        await self._producer.flush()
        return StreamReport(sid, "<samples>", chunks=-(-total // chunk_frames), steps=total)

    async def send_text(
        self,
        text: str,
        *,
        stream_id: str | None = None,
        chunk_tokens: int = 1,
        model: str | None = None,
    ) -> StreamReport:
        """Stream a text token by token (``chunk_tokens`` per chunk); returns what was sent."""
        target = self.target("text", model)
        return await self._publish(
            target, text_sources([text], stream_id=stream_id, chunk_tokens=chunk_tokens)
        )

    async def _publish(
        self, target: ModelTarget, sources: Iterable[StreamSource], *, paced: bool = False
    ) -> StreamReport:
        (report,) = await publish_streams(self._producer, target, sources, paced=paced)
        if report.error is not None:
            raise InputError(report.error)
        return report

    # --- predictions ------------------------------------------------------------------------------
    async def predictions(self, stream_id: str | None = None) -> AsyncIterator[PredictionEvent]:
        """Predictions as they arrive; for one stream, those already seen first, ending after its final one.

        Without ``stream_id`` every prediction from now on, until the client closes. In a segmented stream
        (``segment="vad"``) the final prediction of an utterance (``utterance`` set) does not end the
        iteration: the stream may go on with more utterances, so it runs until the client closes (break
        out when you have what you need).
        """
        self._check_listening()
        queue: asyncio.Queue[PredictionEvent | None] = asyncio.Queue()
        if stream_id is not None:
            for seen in self._history.get(stream_id, ()):
                queue.put_nowait(seen)
        entry = (stream_id, queue)
        self._subscribers.append(entry)
        try:
            while True:
                event = await queue.get()
                if event is _CLOSED:
                    if self._failure is not None:
                        raise ServiceError(f"reading predictions failed: {self._failure}") from self._failure
                    return
                yield event
                if stream_id is not None and event.final and event.utterance is None:
                    return
        finally:
            self._subscribers.remove(entry)

    async def wait_final(self, stream_id: str, timeout: float | None = 30.0) -> PredictionEvent:
        """The final prediction of ``stream_id`` (already seen, or the next one); :class:`TimeoutError`.

        In a segmented stream this is the latest utterance's final prediction (or the next one's)."""
        self._check_listening()
        if stream_id in self._finals:
            return self._finals[stream_id]
        future: asyncio.Future[PredictionEvent] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(stream_id, []).append(future)
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            waiters = self._waiters.get(stream_id, [])
            if future in waiters:
                waiters.remove(future)
            if not waiters:
                self._waiters.pop(stream_id, None)

    def _check_listening(self) -> None:
        if self._reader is None:
            raise ServiceError("this client was made with listen=False; it reads no predictions")
        if self._failure is not None:
            raise ServiceError(f"reading predictions failed: {self._failure}") from self._failure
        if self._task is None:
            raise ServiceError("use the client as 'async with RnnstreamClient(...) as client'")

    async def _dispatch(self) -> None:
        assert self._reader is not None
        try:
            async for received in self._reader:
                self._deliver(received.event)
        except asyncio.CancelledError:
            raise
        except (RnnstreamError, OSError) as exc:
            self._failure = exc
            self._shut(ServiceError(f"reading predictions failed: {exc}"))

    def _deliver(self, event: PredictionEvent) -> None:
        sid = event.stream_id
        history = self._history.pop(sid, None) or deque(maxlen=self._history_len)
        if (event.seq == 0 and event.utterance is None) or (
            history and history[-1].final and history[-1].utterance is None
        ):
            history.clear()  # a new stream on this stream id (a segmented stream keeps all its utterances)
        history.append(event)
        self._history[sid] = history
        while len(self._history) > self._max_streams:
            self._history.popitem(last=False)
        if event.final:
            self._finals.pop(sid, None)
            self._finals[sid] = event
            while len(self._finals) > self._max_streams:
                self._finals.popitem(last=False)
            for future in self._waiters.pop(sid, []):
                if not future.done():
                    future.set_result(event)
        for wanted, queue in self._subscribers:
            if wanted is None or wanted == sid:
                queue.put_nowait(event)

    def _shut(self, error: ServiceError) -> None:
        for _, queue in self._subscribers:
            queue.put_nowait(_CLOSED)
        for futures in self._waiters.values():
            for future in futures:
                if not future.done():
                    future.set_exception(error)
        self._waiters.clear()
