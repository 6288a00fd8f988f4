"""The naive reference: what a worker without batching does, one event at a time.

Per event: decode and admit it, Redis ``GET`` its stream's record, apply the per-chunk rule, run ONNX Runtime
with batch 1 (on the event loop), Redis ``SET`` the new record (with the TTL; no fence), send the prediction
and wait for the broker's acknowledgement. It reuses the codec, the chunk rule and the state codec, so its
predictions are the real ones: only the batching is missing. Offsets are committed after each fetched batch.
"""

from __future__ import annotations

import numpy as np
from redis.asyncio import Redis

from rnnstream.bench.inprocess import InProcessPipeline
from rnnstream.bench.load import now_ms
from rnnstream.bench.pipelines import (
    BATCH_MAX_RECORDS,
    BATCH_TIMEOUT_MS,
    STATE_TTL_S,
    BatchStats,
    PipelineNames,
)
from rnnstream.core.chunk_rule import GapPolicy, Outcome, decide, next_record, starting_state
from rnnstream.core.records import StateKey
from rnnstream.errors import EventError
from rnnstream.events import (
    SourcePosition,
    check_key,
    dead_letter_for,
    decode_event,
    encode_dead_letter,
    encode_prediction,
    event_key,
)
from rnnstream.events.predictions import prediction_event
from rnnstream.state.codec import decode_record, encode_record
from rnnstream.state.store import ttl_ms
from rnnstream.worker.admission import admit
from rnnstream.worker.loaded_models import LoadedModels
from rnnstream.worker.processor import MAX_DEAD_LETTER_ORIGINAL, ProcessorConfig


class NaivePipeline(InProcessPipeline):
    """One event at a time: GET, ONNX batch 1, SET, send."""

    name = "naive"

    def __init__(self, names: PipelineNames, *, bootstrap: str, redis_url: str, models: LoadedModels) -> None:
        super().__init__(names, bootstrap=bootstrap, redis_url=redis_url)
        self.models = models
        self.redis: Redis = Redis.from_url(redis_url, decode_responses=False)
        self.config = ProcessorConfig(state_ttl_s=STATE_TTL_S, gap_policy=GapPolicy.SKIP)

    async def _loop(self) -> None:
        while True:
            fetched = await self.consumer.getmany(timeout_ms=BATCH_TIMEOUT_MS, max_records=BATCH_MAX_RECORDS)
            records = [r for batch in fetched.values() for r in batch]
            for r in records:
                await self._one(
                    r.value or b"",
                    r.key,
                    SourcePosition(topic=r.topic, partition=r.partition, offset=r.offset),
                )
            if records:
                await self.consumer.commit()

    async def _dead_letter(self, raw: bytes, exc: EventError, source: SourcePosition) -> None:
        letter = dead_letter_for(
            raw, exc, at_ms=now_ms(), source=source, max_original_bytes=MAX_DEAD_LETTER_ORIGINAL
        )
        key = event_key(letter.stream_id) if letter.stream_id else None
        await (await self.producer.send(self.names.dead_letters, encode_dead_letter(letter), key=key))

    async def _one(self, raw: bytes, key: bytes | None, source: SourcePosition) -> None:
        now = now_ms()
        try:
            event = decode_event(
                raw, max_bytes=self.config.max_event_bytes, max_steps=self.config.max_chunk_steps
            )
            check_key(key, event)
            model, chunk = admit(event, self.models)
        except EventError as exc:
            await self._dead_letter(raw, exc, source)
            return
        name = StateKey(model.name, model.version, chunk.stream_id).render(self.names.redis_prefix)
        stored = await self.redis.get(name)
        record = decode_record(stored) if isinstance(stored, bytes) else None
        d = decide(record, chunk.seq, chunk.start, chunk.end, self.config.gap_policy)
        if d.outcome is Outcome.DUPLICATE:
            return
        if not d.accepted:
            assert d.reason is not None
            detail = f"stream {chunk.stream_id!r}: {d.reason.value} at seq {chunk.seq}"
            await self._dead_letter(raw, EventError(d.reason.value, detail), source)
            return
        start = starting_state(d, record) or model.zero_stream_state()
        lengths = np.array([len(chunk.data)], dtype=np.int32)
        out = model.run(chunk.data[None], lengths, {k: v[:, None, :] for k, v in start.items()})
        scores = out.last_scores(lengths)[0]
        tensors = {k: np.ascontiguousarray(v[:, 0]) for k, v in out.state.items()}
        new = next_record(d, record, tensors, len(chunk.data), now)
        await self.redis.set(name, encode_record(new), px=ttl_ms(self.config.state_ttl_s))
        prediction = prediction_event(
            stream_id=chunk.stream_id,
            seq=chunk.seq,
            model=model.name,
            model_version=model.version,
            labels=model.labels,
            scores=scores,
            steps_seen=new.steps_seen,
            final=d.final,
            gap=d.gap,
            produced_at_ms=chunk.produced_at_ms,
            predicted_at_ms=now,
        )
        value = encode_prediction(prediction)
        await (await self.producer.send(self.names.predictions, value, key=event_key(chunk.stream_id)))

    async def batch_stats(self) -> BatchStats:
        """One event per step and one row per ONNX Runtime call, by construction."""
        return BatchStats(1.0, 1.0)

    async def close_resources(self) -> None:
        await self.redis.aclose()
