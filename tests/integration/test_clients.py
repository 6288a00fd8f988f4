"""Producers, ``tail`` and the Python client against the real local broker, and kcat interop.

Every test writes to its own topics (uuid names), so tests share the session broker without seeing each
other's events.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from typer.testing import CliRunner

from rnnstream.cli.clients_cmd import produce_app, tail
from rnnstream.clients import RnnstreamClient, iter_audio_chunks, resolve_target
from rnnstream.clients.target import DEFAULT_AUDIO_MODEL
from rnnstream.events import (
    ChunkEvent,
    InputEvent,
    PredictionEvent,
    decode_event,
    decode_input_event,
    decode_prediction,
    encode_input_event,
    encode_prediction,
)
from rnnstream.events.binary import is_binary_event
from rnnstream.features.audio import file_features
from rnnstream.features.text import tokenize
from rnnstream.repository.reader import ModelRepository
from tests.integration.audio_inputs import make_inputs
from tests.integration.kcat_compat import kcat_friendly_broker
from tests.paths import FSDD, REPOSITORY

pytestmark = pytest.mark.services

AUDIO = resolve_target(DEFAULT_AUDIO_MODEL, REPOSITORY)  # what `produce audio` names by default
CFG = AUDIO.log_mel
LIMITS = {"max_bytes": 1_000_000, "max_steps": 2000}

cli = typer.Typer()
cli.add_typer(produce_app, name="produce")
cli.command("tail")(tail)


def _topic(what: str) -> str:
    return f"clients-{what}-{uuid.uuid4().hex[:8]}"


def _cli(broker: str, *args: str, stdin: str | None = None) -> Any:
    extra = ["--repository", str(REPOSITORY)] if args[0] == "produce" else []
    return CliRunner().invoke(cli, [*args, "--broker", broker, *extra], input=stdin)


def _produce(
    broker: str, kind: str, topic: str, *args: str, stdin: str | None = None
) -> list[dict[str, Any]]:
    result = _cli(broker, "produce", kind, *args, "--topic", topic, "--json", stdin=stdin)
    assert result.exit_code == 0, result.output + result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


async def _read(
    broker: str, topic: str, expected: int | None, timeout_s: float = 20.0
) -> list[ConsumerRecord]:
    """Records of ``topic`` from the beginning: until ``expected`` arrived, or all that come in ``timeout_s``."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker, group_id=None, auto_offset_reset="earliest", fetch_max_wait_ms=50
    )
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        consumer.subscribe([topic])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while (expected is None or len(records) < expected) and loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for batch in batches.values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


def _events(records: list[ConsumerRecord]) -> dict[str, list[ChunkEvent]]:
    """Input events per stream in partition order (a stream lives on one partition), keys checked."""
    streams: dict[str, list[ChunkEvent]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        event = decode_event(record.value, **LIMITS)
        assert record.key == event.stream_id.encode()
        streams[event.stream_id].append(event)
    return streams


def _formats(records: list[ConsumerRecord]) -> dict[str, set[str]]:
    """The wire formats each stream's records came in: ``"v1"`` (JSON) or ``"v2"`` (binary)."""
    formats: dict[str, set[str]] = defaultdict(set)
    for record in records:
        formats[record.key.decode()].add("v2" if is_binary_event(record.value) else "v1")
    return formats


def _check_stream(events: list[ChunkEvent]) -> None:
    assert [e.seq for e in events] == list(range(len(events)))
    assert [e.start for e in events] == [True] + [False] * (len(events) - 1)
    assert [e.end for e in events] == [False] * (len(events) - 1) + [True]


def _frames(events: list[ChunkEvent]) -> np.ndarray:
    return np.concatenate([e.frames for e in events if e.frames is not None])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_inputs(tmp_path_factory.mktemp("audio"))


def test_audio_files_become_ordered_chunk_streams_with_the_reference_features(
    broker_bootstrap: str, inputs: dict[str, Path]
) -> None:
    topic = _topic("audio")
    files = [inputs["stereo44k"], inputs["long22k"], inputs["stereo48k"]]
    lines = _produce(broker_bootstrap, "audio", topic, *map(str, files), "--chunk-ms", "100")
    by_file = {line["file"]: line for line in lines}
    assert set(by_file) == {str(f) for f in files}

    records = asyncio.run(_read(broker_bootstrap, topic, sum(x["chunks"] for x in lines)))
    assert set().union(*_formats(records).values()) == {"v2"}  # the default wire format
    streams = _events(records)
    for path in files:
        line = by_file[str(path)]
        events = streams[line["stream_id"]]
        assert line["stream_id"].startswith(path.stem + "-")
        _check_stream(events)
        assert {(e.model, e.model_version) for e in events} == {("fsdd-digits-gru", AUDIO.version)}
        assert all(e.steps == 10 for e in events[:-1]) and 1 <= events[-1].steps <= 10
        frames = _frames(events)
        np.testing.assert_array_equal(frames, file_features(path, CFG))
        assert (line["chunks"], line["frames"]) == (len(events), len(frames))


def test_a_file_ending_on_a_chunk_boundary_still_ends_its_stream(tmp_path: Path) -> None:
    import soundfile as sf

    path = tmp_path / "thirty-frames.wav"  # 1 + (256 + 80*29 - 256) // 80 = 30 frames at 8 kHz
    sf.write(path, np.random.default_rng(1).normal(0, 0.1, 256 + 80 * 29), 8000, subtype="FLOAT")
    chunks = list(iter_audio_chunks(path, "s", CFG, 10))
    assert [(c.seq, c.start, c.end, c.steps) for c in chunks] == [
        (0, True, False, 10),
        (1, False, False, 10),
        (2, False, True, 10),
    ]


def test_a_file_too_short_for_a_frame_is_an_error_and_sends_nothing(
    broker_bootstrap: str, inputs: dict[str, Path]
) -> None:
    topic = _topic("short")
    result = _cli(broker_bootstrap, "produce", "audio", str(inputs["short"]), "--topic", topic, "--json")
    assert result.exit_code == 1
    (line,) = [json.loads(x) for x in result.stdout.splitlines()]
    assert line["chunks"] == 0 and "too short" in line["error"]
    assert "too short" in result.stderr
    assert asyncio.run(_read(broker_bootstrap, topic, None, timeout_s=2.0)) == []


def test_stream_id_is_for_one_file_only(broker_bootstrap: str, inputs: dict[str, Path]) -> None:
    one = _produce(
        broker_bootstrap, "audio", _topic("sid"), str(inputs["stereo44k"]), "--stream-id", "mine-1"
    )
    assert one[0]["stream_id"] == "mine-1"
    two = _cli(
        broker_bootstrap,
        "produce",
        "audio",
        str(inputs["stereo44k"]),
        str(inputs["long22k"]),
        "--stream-id",
        "x",
        "--topic",
        _topic("sid"),
    )
    assert two.exit_code == 2 and "one stream" in two.stderr


def test_realtime_paces_chunks_at_the_speed_of_the_audio(
    broker_bootstrap: str, inputs: dict[str, Path]
) -> None:
    topic = _topic("realtime")
    (line,) = _produce(broker_bootstrap, "audio", topic, str(inputs["stereo44k"]), "--realtime")
    events = _events(asyncio.run(_read(broker_bootstrap, topic, line["chunks"])))[line["stream_id"]]
    _check_stream(events)
    # chunk k goes out when its last frame's audio has arrived: (10k + 9) * 10 ms + 32 ms after the start
    spread_ms = events[-1].produced_at_ms - events[0].produced_at_ms
    audio_ms = ((line["frames"] - 1) * 80 - 9 * 80) / 8  # last frame's end minus the first chunk's
    assert spread_ms >= audio_ms - 15


def test_a_directory_becomes_one_stream_per_file_interleaved(broker_bootstrap: str, tmp_path: Path) -> None:
    names = ["0_george_0.wav", "3_theo_7.wav", "5_lucas_12.wav"]
    for name in names:
        shutil.copy(FSDD / "recordings" / name, tmp_path / name)
    (tmp_path / "notes.txt").write_text("not audio")
    topic = _topic("dir")

    async def one_partition() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=broker_bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
        finally:
            await admin.close()

    asyncio.run(one_partition())  # one partition: the topic's order is the send order
    lines = _produce(broker_bootstrap, "audio", topic, str(tmp_path))
    assert sorted(Path(x["file"]).name for x in lines) == names
    records = asyncio.run(_read(broker_bootstrap, topic, sum(x["chunks"] for x in lines)))
    order = [decode_event(r.value, **LIMITS) for r in sorted(records, key=lambda r: r.offset)]
    first_round = order[:3]
    assert [e.seq for e in first_round] == [0, 0, 0]
    assert len({e.stream_id for e in first_round}) == 3
    assert [e.seq for e in order[3:6]] == [1, 1, 1]  # round-robin, not file after file
    streams = _events(records)
    for line in lines:
        _check_stream(streams[line["stream_id"]])
        np.testing.assert_array_equal(_frames(streams[line["stream_id"]]), file_features(line["file"], CFG))


def test_text_goes_token_by_token_and_stdin_lines_are_separate_streams(broker_bootstrap: str) -> None:
    text = "WINNER!! Call 09061701461 now to claim your £900 prize"
    topic = _topic("text")
    (line,) = _produce(broker_bootstrap, "text", topic, text, "--stream-id", "sms-1")
    stdin_lines = _produce(
        broker_bootstrap,
        "text",
        topic,
        "--chunk-tokens",
        "2",
        "--format",
        "v1",
        stdin="see you at home\n\nok lor\n",
    )
    stdin_lines.sort(key=lambda x: x["line"])  # reported as streams finish
    assert [(x["stream_id"].rsplit("-", 1)[1], x["input"]) for x in stdin_lines] == [
        ("1", "see you at home"),
        ("3", "ok lor"),
    ]
    total = line["chunks"] + sum(x["chunks"] for x in stdin_lines)
    records = asyncio.run(_read(broker_bootstrap, topic, total))
    assert _formats(records) == {"sms-1": {"v2"}, **{x["stream_id"]: {"v1"} for x in stdin_lines}}
    streams = _events(records)

    events = streams["sms-1"]
    _check_stream(events)
    assert [e.tokens for e in events] == [(t,) for t in tokenize(text)]
    latest = ModelRepository(REPOSITORY).resolve("sms-spam-lstm").version  # producers name the latest
    assert {(e.model, e.model_version) for e in events} == {("sms-spam-lstm", latest)}
    for x, expected in zip(stdin_lines, ["see you at home", "ok lor"], strict=True):
        got = streams[x["stream_id"]]
        _check_stream(got)
        tokens = tokenize(expected)
        assert [e.tokens for e in got] == [tuple(tokens[i : i + 2]) for i in range(0, len(tokens), 2)]


def _prediction(stream_id: str, seq: int, final: bool, label: str = "7") -> PredictionEvent:
    scores = {str(d): 0.01 for d in range(10)}
    scores[label] = 0.91
    return PredictionEvent(
        v=1,
        stream_id=stream_id,
        seq=seq,
        model="fsdd-digits-lstm",
        model_version="1",
        label=label,
        scores=scores,
        steps_seen=10 * (seq + 1),
        final=final,
        gap=False,
        produced_at_ms=1_000,
        predicted_at_ms=1_012,
    )


async def _publish(broker: str, topic: str, values: list[tuple[str, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker)
    await producer.start()
    try:
        for key, value in values:
            await producer.send_and_wait(topic, value, key=key.encode())
    finally:
        await producer.stop()


def test_tail_json_stops_after_n_finals_and_filters(broker_bootstrap: str) -> None:
    topic = _topic("pred")
    events = [
        _prediction("a", 0, False),
        _prediction("b", 0, False),
        _prediction("a", 1, True),
        _prediction("b", 1, True, "3"),
    ]
    values = [(e.stream_id, encode_prediction(e)) for e in events]
    asyncio.run(_publish(broker_bootstrap, topic, [("a", b"not json"), *values]))

    common = ("tail", "--topic", topic, "--from-beginning", "--json", "--timeout", "20")
    everything = _cli(broker_bootstrap, *common, "--until-final", "2")
    assert everything.exit_code == 0, everything.stderr
    got = [decode_prediction(line.encode()) for line in everything.stdout.splitlines()]
    assert sorted((e.stream_id, e.seq) for e in got) == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    assert "not a prediction event" in everything.stderr
    assert all(
        '"utterance"' not in line for line in everything.stdout.splitlines()
    )  # as the worker writes them

    finals_b = _cli(broker_bootstrap, *common, "--until-final", "1", "--final-only", "--stream-id", "b")
    assert [decode_prediction(x.encode()) for x in finals_b.stdout.splitlines()] == [events[3]]

    table = _cli(
        broker_bootstrap,
        "tail",
        "--topic",
        topic,
        "--from-beginning",
        "--until-final",
        "2",
        "--timeout",
        "20",
    )
    assert table.exit_code == 0 and "label=3" in table.stdout and "latency_ms=12 final" in table.stdout

    waiting = _cli(broker_bootstrap, *common, "--until-final", "3", "--timeout", "2")
    assert waiting.exit_code == 1 and "timed out" in waiting.stderr


async def test_python_client_sends_and_awaits_predictions(
    broker_bootstrap: str, inputs: dict[str, Path]
) -> None:
    events_topic, predictions_topic = _topic("cin"), _topic("cout")
    async with RnnstreamClient(
        broker_bootstrap, input_topic=events_topic, prediction_topic=predictions_topic, repository=REPOSITORY
    ) as client:
        sent = await client.send_audio_file(inputs["stereo44k"], stream_id="file-1")
        text = await client.send_text("free entry now", stream_id="text-1", chunk_tokens=2)
        await client.send_frames("frames-1", np.ones((3, 40), np.float32), 0, start=True, end=True)
        # stand in for the worker: predictions for file-1 arrive before anyone waits for them
        early = [_prediction("file-1", 0, False), _prediction("file-1", 1, True)]
        await _publish(
            broker_bootstrap, predictions_topic, [(e.stream_id, encode_prediction(e)) for e in early]
        )
        assert await client.wait_final("file-1", timeout=20) == early[1]
        seen = [e async for e in client.predictions("file-1")]
        assert seen == early
        with pytest.raises(TimeoutError):
            await client.wait_final("nobody", timeout=0.5)

    records = await _read(broker_bootstrap, events_topic, sent.chunks + text.chunks + 1)
    assert set().union(*_formats(records).values()) == {"v2"}
    streams = _events(records)
    _check_stream(streams["file-1"])
    np.testing.assert_array_equal(_frames(streams["file-1"]), file_features(inputs["stereo44k"], CFG))
    assert [e.tokens for e in streams["text-1"]] == [("free", "entry"), ("now",)]
    assert streams["frames-1"][0].start and streams["frames-1"][0].end


# --- kcat ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def kcat() -> str:
    found = shutil.which("kcat")
    if found is None:
        pytest.fail(
            "kcat is not on PATH: install the Debian package with 'apt-get install -y kcat' (make setup)"
        )
    return found


@pytest.fixture(scope="module")
def kcat_broker(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with kcat_friendly_broker(tmp_path_factory.mktemp("kcat") / "tansu.log") as address:
        yield address


def _kcat(kcat: str, *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run([kcat, *args], input=stdin, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_kcat_produces_an_input_event_the_codec_accepts(kcat: str, kcat_broker: str) -> None:
    topic = _topic("kcat")
    # exactly the line docs/clients.md shows: a frames event written by hand, keyed by its stream id
    line = (
        'call-42\t{"v":1,"stream_id":"call-42","seq":0,"model":"fsdd-digits-lstm","start":true,'
        '"produced_at_ms":1764201600000,"payload":{"kind":"frames","dtype":"float32","shape":[2,3],'
        '"data":"AAAAPwAAgL8AABBAAAAAAAAAgD8AAGBA"}}\n'
    )
    ours = InputEvent.model_validate_json(line.split("\t", 1)[1]).model_copy(update={"seq": 1, "end": True})
    stdin = line + f"call-42\t{encode_input_event(ours).decode()}\n"
    _kcat(
        kcat,
        "-b",
        kcat_broker,
        "-P",
        "-t",
        topic,
        "-K",
        "\t",
        "-X",
        "partitioner=murmur2_random",
        stdin=stdin,
    )

    out = _kcat(kcat, "-b", kcat_broker, "-C", "-t", topic, "-e", "-o", "beginning", "-q", "-f", "%k\t%s\n")
    read = [row.split("\t", 1) for row in out.splitlines()]
    assert [key for key, _ in read] == ["call-42", "call-42"]
    decoded = [decode_input_event(value.encode(), **LIMITS) for _, value in read]
    assert [e.seq for e in decoded] == [0, 1] and decoded[1] == ours
    np.testing.assert_array_equal(decoded[0].payload.array, [[0.5, -1.0, 2.25], [0.0, 1.0, 3.5]])  # type: ignore[union-attr]


def test_kcat_reads_prediction_events(kcat: str, kcat_broker: str) -> None:
    topic = _topic("kcatpred")
    sent = [_prediction("call-42", 0, False), _prediction("call-42", 1, True)]
    asyncio.run(_publish(kcat_broker, topic, [(e.stream_id, encode_prediction(e)) for e in sent]))
    out = _kcat(kcat, "-b", kcat_broker, "-C", "-t", topic, "-e", "-o", "beginning", "-q", "-f", "%k\t%s\n")
    read = [row.split("\t", 1) for row in out.splitlines()]
    assert [(key, decode_prediction(value.encode())) for key, value in read] == [
        (e.stream_id, e) for e in sent
    ]
