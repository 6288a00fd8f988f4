"""``rnnstream produce audio --pcm`` and the client's PCM sends against the real local broker: what lands on the
topic decodes to pcm chunk events whose samples, concatenated, are the file's, bit for bit.

Every test writes to its own topic (uuid names), so tests share the session broker without seeing each
other's events. Only bundled and generated audio is used (no shared datasets).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import typer
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from typer.testing import CliRunner

from rnnstream.cli.clients_cmd import produce_app
from rnnstream.clients import RnnstreamClient
from rnnstream.events import ChunkEvent, decode_event
from rnnstream.events.binary import is_binary_event
from rnnstream.events.models import DEFAULT_MAX_CHUNK_STEPS, DEFAULT_MAX_EVENT_BYTES
from rnnstream.samples import CONTINUOUS_WAV, sample_recordings
from tests.paths import REPOSITORY

pytestmark = pytest.mark.services

LIMITS = {"max_bytes": DEFAULT_MAX_EVENT_BYTES, "max_steps": DEFAULT_MAX_CHUNK_STEPS}
DIGIT = sample_recordings()[3][0]

cli = typer.Typer()
cli.add_typer(produce_app, name="produce")


def _topic(what: str) -> str:
    return f"clients-pcm-{what}-{uuid.uuid4().hex[:8]}"


def _produce(broker: str, topic: str, *args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(
        cli,
        ["produce", "audio", *args, "--pcm", "--topic", topic, "--json", "--broker", broker,
         "--repository", str(REPOSITORY)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


async def _read(broker: str, topic: str, expected: int, timeout_s: float = 30.0) -> list[ConsumerRecord]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker, group_id=None, auto_offset_reset="earliest", fetch_max_wait_ms=50
    )
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        consumer.subscribe([topic])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while len(records) < expected and loop.time() < deadline:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


def _streams(records: list[ConsumerRecord]) -> dict[str, list[ChunkEvent]]:
    streams: dict[str, list[ChunkEvent]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        event = decode_event(record.value, **LIMITS)
        assert record.key == event.stream_id.encode()
        streams[event.stream_id].append(event)
    return streams


def _check_stream(events: list[ChunkEvent]) -> None:
    assert [e.seq for e in events] == list(range(len(events)))
    assert [e.start for e in events] == [True] + [False] * (len(events) - 1)
    assert [e.end for e in events] == [False] * (len(events) - 1) + [True]
    assert {e.kind for e in events} == {"pcm"}


def _wire_ints(events: list[ChunkEvent]) -> np.ndarray:
    """The samples as they travelled (s16le), concatenated: ``[n, channels]`` int16."""
    parts = [np.frombuffer(e.pcm.wire_bytes(), "<i2").reshape(-1, e.pcm.channels) for e in events if e.pcm]
    return np.concatenate(parts)


@pytest.fixture(scope="module")
def stereo44k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pcm") / "stereo-44k.wav"
    mono, _ = sf.read(str(DIGIT), dtype="int16")
    stereo = np.stack([np.repeat(mono, 5), -np.repeat(mono, 5) // 2], axis=1)[:-3]  # 44.1 kHz, odd length
    assert len(stereo) % 882
    sf.write(path, stereo, 44100, subtype="PCM_16")
    return path


def test_produce_pcm_writes_the_files_samples_exactly(broker_bootstrap: str, stereo44k: Path) -> None:
    topic = _topic("files")
    lines = _produce(broker_bootstrap, topic, str(DIGIT), str(stereo44k))
    by_file = {line["file"]: line for line in lines}
    records = asyncio.run(_read(broker_bootstrap, topic, sum(x["chunks"] for x in lines)))
    assert {is_binary_event(r.value) for r in records} == {True}  # v2 by default
    streams = _streams(records)
    for path, rate, channels, packet in [(DIGIT, 8000, 1, 160), (stereo44k, 44100, 2, 882)]:
        line = by_file[str(path)]
        assert (line["sample_rate"], line["channels"]) == (rate, channels)
        events = streams[line["stream_id"]]
        _check_stream(events)
        assert all(e.steps == packet for e in events[:-1])
        assert {
            (e.pcm.encoding, e.pcm.sample_rate, e.pcm.channels, e.pcm.segment) for e in events if e.pcm
        } == {("s16le", rate, channels, "none")}
        expected, _ = sf.read(str(path), dtype="int16", always_2d=True)
        np.testing.assert_array_equal(_wire_ints(events), expected)
        assert (line["chunks"], line["samples"]) == (len(events), len(expected))


def test_produce_pcm_with_vad_v1_and_other_packets(broker_bootstrap: str) -> None:
    topic = _topic("vad")
    (line,) = _produce(
        broker_bootstrap,
        topic,
        str(CONTINUOUS_WAV),
        "--segment",
        "vad",
        "--packet-ms",
        "50",
        "--format",
        "v1",
    )
    records = asyncio.run(_read(broker_bootstrap, topic, line["chunks"]))
    assert {r.value[:1] for r in records} == {b"{"}  # v1 JSON
    events = _streams(records)[line["stream_id"]]
    _check_stream(events)
    assert all(e.steps == 400 for e in events[:-1]) and {e.pcm.segment for e in events if e.pcm} == {"vad"}
    expected, _ = sf.read(str(CONTINUOUS_WAV), dtype="int16", always_2d=True)
    np.testing.assert_array_equal(_wire_ints(events), expected)


def test_realtime_paces_pcm_packets_at_the_speed_of_the_audio(broker_bootstrap: str) -> None:
    topic = _topic("realtime")
    (line,) = _produce(broker_bootstrap, topic, str(DIGIT), "--realtime")
    events = _streams(asyncio.run(_read(broker_bootstrap, topic, line["chunks"])))[line["stream_id"]]
    _check_stream(events)
    spread_ms = events[-1].produced_at_ms - events[0].produced_at_ms
    audio_ms = (line["samples"] - 160) / 8  # the last packet's end minus the first one's
    assert audio_ms - 15 <= spread_ms <= audio_ms + 1000


async def test_python_client_sends_pcm_files_and_packets(broker_bootstrap: str, stereo44k: Path) -> None:
    topic = _topic("client")
    async with RnnstreamClient(
        broker_bootstrap, input_topic=topic, repository=REPOSITORY, listen=False
    ) as client:
        sent = await client.send_pcm_file(stereo44k, stream_id="file-1", packet_ms=10, segment="vad")
        tone = np.sin(np.arange(320) / 5.0) * 0.5
        await client.send_pcm("mic-1", tone[:160], 16000, seq=0, start=True)
        await client.send_pcm("mic-1", tone[160:], 16000, seq=1, end=True)
    streams = _streams(await _read(broker_bootstrap, topic, sent.chunks + 2))
    events = streams["file-1"]
    _check_stream(events)
    expected, _ = sf.read(str(stereo44k), dtype="int16", always_2d=True)
    assert sent.steps == len(expected) and {e.pcm.segment for e in events if e.pcm} == {"vad"}
    np.testing.assert_array_equal(_wire_ints(events), expected)
    mic = streams["mic-1"]
    _check_stream(mic)
    np.testing.assert_array_equal(
        _wire_ints(mic)[:, 0], np.clip(np.rint(tone * 32768), -32768, 32767).astype(np.int16)
    )
