"""The ``quix`` pipeline's application: the RNN step written as a Quix Streams user would write it.

Run by :class:`~rnnstream.bench.quix.QuixPipeline` as its own process (``Application.run()`` owns its loop
and the SIGTERM handler)::

    python -m rnnstream.bench.quix_app --broker HOST:PORT --input-topic T --prediction-topic P \\
        --group G --state-dir DIR --repository REPO --model NAME --ready-file FILE [--state-ttl-s S]

The way Quix's documentation builds an app: an ``Application``, ``app.topic(...)`` for the input and the
prediction topic, ``app.dataframe(input)``, one per-message ``sdf.apply(..., stateful=True)`` that keeps each
stream's recurrent state in Quix's own state store (``State.get`` / ``State.set``, RocksDB, one store
partition per input partition, keyed by the message key = the stream id) and ``sdf.to_topic(predictions)``.
One message at a time, ONNX Runtime with batch 1; none of rnnstream's batching.

What it shares with the other pipelines, so its predictions are comparable: the input decoder
(:func:`decode`, the naive pipeline's), the models (:class:`~rnnstream.worker.loaded_models.LoadedModels`,
one intra-op thread) and the prediction's wire form (``prediction_event`` + ``encode_prediction``). The
per-chunk rule is the user's own, short one (:class:`RnnStep`), not rnnstream's chunk rule.

Quix's defaults stay: changelog topics behind the store (Quix creates the compacted
``changelog__<group>--<input>--default`` topic on the bench's broker), an idempotent producer,
``processing_guarantee="at-least-once"``, a checkpoint every 5 s. The tansu broker of the bench takes all of
them; what it needs is on the consumer, as for the bench's other consumers: ``session.timeout.ms=6000`` /
``heartbeat.interval.ms=2000`` (tansu joins a group after about half the session timeout: librdkafka's 45 s
would mean a 22 s start) and ``fetch.wait.max.ms=10`` (tansu answers a waiting fetch only when its max wait
expires). The bench creates the input and prediction topics beforehand with ``retention.ms`` set, which
Quix reads from the input topic to configure the changelog and tansu reports only when a topic was created
with it.

Readiness: librdkafka's statistics callback, which Quix passes through (``stats_cb`` in
``consumer_extra_config``), every 500 ms; the first one that shows the group joined with partitions assigned
writes ``--ready-file``. It is served by the same ``poll`` that runs Quix's rebalance callback, so by then the
store partitions are open. Quix has no public on-assign hook.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from quixstreams import Application, State
from quixstreams.models import Row

from rnnstream.errors import EventError
from rnnstream.events import encode_prediction
from rnnstream.events.chunk_event import ChunkEvent
from rnnstream.events.codec import decode_event
from rnnstream.events.models import DEFAULT_MAX_CHUNK_STEPS, DEFAULT_MAX_EVENT_BYTES
from rnnstream.events.predictions import prediction_event
from rnnstream.worker.loaded_models import LoadedModels

STATE_KEY = "rnn"
STATS_INTERVAL_MS = 500

logger = logging.getLogger("rnnstream.bench.quix_app")


@dataclass(frozen=True)
class QuixAppConfig:
    """What the app is told on its command line."""

    broker: str
    input_topic: str
    prediction_topic: str
    group: str
    state_dir: Path
    repository: Path
    model: str
    ready_file: Path
    state_ttl_s: float

    @classmethod
    def from_argv(cls, argv: Sequence[str] | None = None) -> QuixAppConfig:
        """Parse ``argv`` (default: ``sys.argv[1:]``)."""
        p = argparse.ArgumentParser(prog="python -m rnnstream.bench.quix_app", description=__doc__)
        p.add_argument("--broker", required=True, help="Kafka bootstrap host:port")
        p.add_argument("--input-topic", required=True)
        p.add_argument("--prediction-topic", required=True)
        p.add_argument("--group", required=True, help="consumer group (also names the state folder)")
        p.add_argument("--state-dir", required=True, type=Path, help="Quix's RocksDB state folder")
        p.add_argument("--repository", required=True, type=Path, help="model repository")
        p.add_argument("--model", required=True, help="model name (its latest version is served)")
        p.add_argument("--ready-file", required=True, type=Path, help="written once partitions are assigned")
        p.add_argument(
            "--state-ttl-s", type=float, default=900.0, help="state expiry after a stream's last chunk"
        )
        a = p.parse_args(argv)
        return cls(
            a.broker,
            a.input_topic,
            a.prediction_topic,
            a.group,
            a.state_dir,
            a.repository,
            a.model,
            a.ready_file,
            a.state_ttl_s,
        )


def decode(raw: bytes) -> ChunkEvent:
    """One input event from its Kafka value: the naive pipeline's decoder, with the wire format's limits."""
    return decode_event(raw, max_bytes=DEFAULT_MAX_EVENT_BYTES, max_steps=DEFAULT_MAX_CHUNK_STEPS)


class RnnStep:
    """The stateful per-message function: one chunk through the model, batch 1.

    The stored value is plain JSON (Quix's default state serialiser): ``seq``, ``steps`` and each state
    tensor as nested lists (float32 → float → float32 is exact). A chunk whose ``seq`` is not past the stored
    one is a redelivery and yields nothing; ``start`` (or no stored value) begins from zero state, a later seq
    than the next one goes on across the gap; ``end`` deletes the stream's state. Entries expire ``ttl`` after
    the last chunk (event time), as the other pipelines' records do.
    """

    def __init__(
        self,
        models: LoadedModels,
        *,
        ttl: timedelta,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.models = models
        self.ttl = ttl
        self.clock_ms = clock_ms

    def __call__(self, event: ChunkEvent, state: State[str, Any]) -> bytes | None:
        now = self.clock_ms()
        stored: dict[str, Any] | None = state.get(STATE_KEY)
        if stored is not None and event.seq <= stored["seq"]:
            return None
        model = self.models.get(event.model, event.model_version)
        data = model.encode(event.frames if event.frames is not None else event.tokens or ())
        previous = None if event.start else stored
        if previous is None:
            start, steps_before = model.zero_stream_state(), 0
        else:
            start = {k: np.asarray(v, np.float32) for k, v in previous["tensors"].items()}
            steps_before = int(previous["steps"])
        lengths = np.array([len(data)], dtype=np.int32)
        out = model.run(data[None], lengths, {k: v[:, None, :] for k, v in start.items()})
        steps = steps_before + len(data)
        if event.end:
            state.delete(STATE_KEY)
        else:
            tensors = {k: v[:, 0].tolist() for k, v in out.state.items()}
            state.set(STATE_KEY, {"seq": event.seq, "steps": steps, "tensors": tensors}, ttl=self.ttl)
        prediction = prediction_event(
            stream_id=event.stream_id,
            seq=event.seq,
            model=model.name,
            model_version=model.version,
            labels=model.labels,
            scores=out.last_scores(lengths)[0],
            steps_seen=steps,
            final=event.end,
            gap=previous is not None and event.seq != previous["seq"] + 1,
            produced_at_ms=event.produced_at_ms,
            predicted_at_ms=now,
        )
        return encode_prediction(prediction)


class ReadyFile:
    """A librdkafka ``stats_cb`` that writes ``path`` once the group has given this consumer partitions."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written = False

    def __call__(self, stats_json: str) -> None:
        if self.written:
            return
        group = json.loads(stats_json).get("cgrp", {})
        if group.get("join_state") == "steady" and int(group.get("assignment_size", 0)) > 0:
            self.path.write_text(f"{group['assignment_size']}\n", encoding="utf-8")
            self.written = True


def skip_bad_events(exc: Exception, row: Row | None, log: logging.Logger) -> bool:
    """Quix's ``on_processing_error``: an event that does not decode or fit its model is logged and skipped
    (``True``); anything else stops the app."""
    if isinstance(exc, EventError):
        log.warning("skipped an event (%s): %s", exc.reason, exc)
        return True
    return False


def make_app(config: QuixAppConfig, models: LoadedModels) -> Application:
    """The application with its dataframe: decode → stateful step → prediction topic."""
    app = Application(
        broker_address=config.broker,
        consumer_group=config.group,
        auto_offset_reset="earliest",
        state_dir=config.state_dir,
        processing_guarantee="at-least-once",
        on_processing_error=skip_bad_events,
        consumer_extra_config={
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 2000,
            "fetch.wait.max.ms": 10,
            "statistics.interval.ms": STATS_INTERVAL_MS,
            "stats_cb": ReadyFile(config.ready_file),
        },
    )
    events = app.topic(config.input_topic, key_deserializer="bytes", value_deserializer="bytes")
    predictions = app.topic(config.prediction_topic, key_serializer="bytes", value_serializer="bytes")
    sdf = app.dataframe(events)
    sdf = sdf.apply(decode)
    sdf = sdf.apply(RnnStep(models, ttl=timedelta(seconds=config.state_ttl_s)), stateful=True)
    sdf = sdf.filter(lambda value: value is not None)
    sdf.to_topic(predictions)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    """Load the model, build the app and run it until SIGTERM."""
    config = QuixAppConfig.from_argv(argv)
    models = LoadedModels.load(config.repository, [(config.model, None)])
    make_app(config, models).run()


if __name__ == "__main__":
    main()
