"""Clients of the streaming service: producers of input events, readers of predictions, a Python API.

* :class:`RnnstreamClient`: send chunks, utterances, audio files and texts; await or iterate predictions.
* :class:`EventProducer`: idempotent, ordered delivery of input events keyed by stream id.
* :class:`PredictionReader`: every partition of the prediction topic, decoded, filtered.
* Sources: :func:`audio_sources` (files → log-mel chunks, computed as the audio is read),
  :func:`pcm_sources` (files → packets of raw PCM samples, for the worker's own front-end) and
  :func:`text_sources` / :func:`line_sources` (texts → token chunks); :func:`publish_streams` sends many
  streams interleaved, optionally at media speed.

The ``rnnstream produce`` and ``rnnstream tail`` commands are built on these (``rnnstream.cli.clients_cmd``).
Formats: docs/events.md; usage: docs/clients.md.
"""

from __future__ import annotations

from rnnstream.clients.audio_source import (
    audio_sources,
    expand_audio_paths,
    frames_per_chunk,
    iter_audio_chunks,
)
from rnnstream.clients.chunks import Chunk, StreamReport, StreamSource, new_stream_id
from rnnstream.clients.client import RnnstreamClient
from rnnstream.clients.consumer import PredictionReader, ReceivedPrediction
from rnnstream.clients.pcm_source import iter_pcm_chunks, pcm_sources, samples_per_packet
from rnnstream.clients.producer import DEFAULT_BROKER, EventProducer, bootstrap_servers
from rnnstream.clients.publishing import publish_streams
from rnnstream.clients.target import ModelTarget, resolve_target
from rnnstream.clients.text_source import iter_text_chunks, line_sources, text_sources
from rnnstream.events.models import DEFAULT_INPUT_TOPIC, DEFAULT_PREDICTION_TOPIC

__all__ = [
    "DEFAULT_BROKER",
    "DEFAULT_INPUT_TOPIC",
    "DEFAULT_PREDICTION_TOPIC",
    "Chunk",
    "EventProducer",
    "ModelTarget",
    "PredictionReader",
    "ReceivedPrediction",
    "RnnstreamClient",
    "StreamReport",
    "StreamSource",
    "audio_sources",
    "bootstrap_servers",
    "expand_audio_paths",
    "frames_per_chunk",
    "iter_audio_chunks",
    "iter_pcm_chunks",
    "iter_text_chunks",
    "line_sources",
    "new_stream_id",
    "pcm_sources",
    "publish_streams",
    "resolve_target",
    "samples_per_packet",
    "text_sources",
]
