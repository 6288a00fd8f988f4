"""The PCM producer without a broker: files cut into packets of raw samples that cover them exactly, encode
to the events the worker decodes (16-bit audio bit for bit), and refuse what the format cannot carry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from rnnstream.cli.clients_cmd import produce_app
from rnnstream.clients import Chunk, iter_pcm_chunks, pcm_sources, samples_per_packet
from rnnstream.clients.pcm_source import check_pcm_format, to_pcm
from rnnstream.clients.target import resolve_target
from rnnstream.errors import InputError, InputTooShortError
from rnnstream.events import WireFormat, decode_event, encode_event
from rnnstream.events.binary import is_binary_event
from rnnstream.events.models import DEFAULT_MAX_CHUNK_STEPS, DEFAULT_MAX_EVENT_BYTES
from rnnstream.samples import CONTINUOUS_WAV, sample_recordings
from tests.paths import AUDIO_MODEL, REPOSITORY

LIMITS = {"max_bytes": DEFAULT_MAX_EVENT_BYTES, "max_steps": DEFAULT_MAX_CHUNK_STEPS}
DIGIT = sample_recordings()[0][0]  # 8 kHz mono 16-bit


def _ints(chunks: list[Chunk]) -> np.ndarray:
    """The packets' samples, concatenated, as the int16 they travel as."""
    samples = np.concatenate([c.pcm.samples for c in chunks if c.pcm is not None])
    return np.rint(samples.astype(np.float64) * 32768).astype(np.int16)


def _check_order(chunks: list[Chunk]) -> None:
    assert [c.seq for c in chunks] == list(range(len(chunks)))
    assert [c.start for c in chunks] == [True] + [False] * (len(chunks) - 1)
    assert [c.end for c in chunks] == [False] * (len(chunks) - 1) + [True]


def _stereo_44k(path: Path, n: int, subtype: str = "PCM_16") -> np.ndarray:
    rng = np.random.default_rng(3)
    data = rng.integers(-32768, 32768, size=(n, 2), dtype=np.int16)
    sf.write(path, data, 44100, subtype=subtype)
    return data


@pytest.mark.parametrize(
    ("packet_ms", "rate", "expected"),
    [
        (20, 8000, 160),
        (20, 44100, 882),
        (20, 22050, 441),
        (10, 48000, 480),
        (1000, 16000, 16000),
        (0.01, 8000, 1),
    ],
)
def test_packet_sizes_follow_the_rate(packet_ms: float, rate: int, expected: int) -> None:
    assert samples_per_packet(packet_ms, rate) == expected


@pytest.mark.parametrize("packet_ms", [0, -5, 1000.5])
def test_a_packet_length_out_of_range_is_an_input_error(packet_ms: float) -> None:
    with pytest.raises(InputError, match="packet length"):
        samples_per_packet(packet_ms, 8000)


def test_packets_cover_a_16_bit_file_exactly_with_seq_start_and_end() -> None:
    chunks = list(iter_pcm_chunks(DIGIT, "d-1"))
    data, rate = sf.read(DIGIT, dtype="int16")
    assert rate == 8000
    _check_order(chunks)
    assert all(c.steps == 160 for c in chunks[:-1]) and 1 <= chunks[-1].steps <= 160
    assert len(chunks) == -(-len(data) // 160)
    np.testing.assert_array_equal(_ints(chunks)[:, 0], data)
    for c in chunks:
        assert c.pcm is not None
        assert (c.pcm.encoding, c.pcm.sample_rate, c.pcm.channels, c.pcm.segment) == (
            "s16le",
            8000,
            1,
            "none",
        )
    # paced sending: a packet is due when its last sample would have been recorded
    assert [c.due_s for c in chunks[:3]] == [0.02, 0.04, 0.06]
    assert chunks[-1].due_s == pytest.approx(len(data) / 8000)
    assert sum(c.audio_s or 0 for c in chunks) == pytest.approx(len(data) / 8000)


def test_a_file_ending_on_a_packet_boundary_still_ends_its_stream(tmp_path: Path) -> None:
    path = tmp_path / "three-packets.wav"
    sf.write(path, np.arange(480, dtype=np.int16), 8000, subtype="PCM_16")
    chunks = list(iter_pcm_chunks(path, "s", block_samples=100))  # blocks that do not line up with packets
    assert [(c.seq, c.start, c.end, c.steps) for c in chunks] == [
        (0, True, False, 160),
        (1, False, False, 160),
        (2, False, True, 160),
    ]
    np.testing.assert_array_equal(_ints(chunks)[:, 0], np.arange(480))


def test_stereo_at_44_1_khz_travels_interleaved_and_exact(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    data = _stereo_44k(path, 882 * 3 + 5)
    chunks = list(iter_pcm_chunks(path, "st", segment="vad"))
    _check_order(chunks)
    assert [c.steps for c in chunks] == [882, 882, 882, 5]
    assert all(c.pcm is not None and c.pcm.channels == 2 and c.pcm.segment == "vad" for c in chunks)
    assert chunks[0].pcm is not None and chunks[0].pcm.samples.shape == (882, 2)
    np.testing.assert_array_equal(_ints(chunks), data)


@pytest.mark.parametrize("wire_format", [1, 2])
def test_16_bit_samples_round_trip_exactly_through_encode_and_decode(
    wire_format: WireFormat, tmp_path: Path
) -> None:
    path = tmp_path / "stereo.wav"
    data = _stereo_44k(path, 2000)
    data[:2] = [[-32768, 32767], [0, -1]]  # the extremes
    sf.write(path, data, 44100, subtype="PCM_16")
    target = resolve_target(str(AUDIO_MODEL))
    chunks = list(iter_pcm_chunks(path, "rt", packet_ms=10))
    raw = [encode_event(c.to_event(target, 7), wire_format) for c in chunks]
    assert all(is_binary_event(r) == (wire_format == 2) for r in raw)
    decoded = [decode_event(r, **LIMITS) for r in raw]
    assert [(e.seq, e.start, e.end, e.kind) for e in decoded] == [
        (c.seq, c.start, c.end, "pcm") for c in chunks
    ]
    assert decoded == [c.to_event(target, 7) for c in chunks]
    wire = np.concatenate([np.frombuffer(e.pcm.wire_bytes(), "<i2") for e in decoded if e.pcm is not None])
    np.testing.assert_array_equal(wire.reshape(-1, 2), data)


def test_other_files_are_rounded_to_16_bits_or_sent_as_float32(tmp_path: Path) -> None:
    path = tmp_path / "float.wav"
    x = np.random.default_rng(5).uniform(-1.2, 1.2, 1000)  # beyond full scale too: clipped in s16le
    sf.write(path, x, 16000, subtype="FLOAT")
    as_float = sf.read(path, dtype="float32")[0]
    s16 = list(iter_pcm_chunks(path, "f"))
    expected = np.clip(np.rint(as_float.astype(np.float64) * 32768), -32768, 32767).astype(np.int16)
    np.testing.assert_array_equal(_ints(s16)[:, 0], expected)
    f32 = list(iter_pcm_chunks(path, "f", encoding="f32le"))
    assert all(c.pcm is not None and c.pcm.encoding == "f32le" for c in f32)
    np.testing.assert_array_equal(np.concatenate([c.pcm.samples for c in f32 if c.pcm])[:, 0], as_float)


def test_what_the_format_cannot_carry_is_an_input_error(tmp_path: Path) -> None:
    low = tmp_path / "low.wav"
    sf.write(low, np.zeros(400, np.int16), 4000, subtype="PCM_16")
    with pytest.raises(InputError, match="4000 Hz"):
        next(iter_pcm_chunks(low, "x"))
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.int16), 8000, subtype="PCM_16")
    with pytest.raises(InputTooShortError, match="no audio samples"):
        next(iter_pcm_chunks(empty, "x"))
    with pytest.raises(InputError, match="channels"):
        check_pcm_format(8000, 9, 160, "s16le")
    with pytest.raises(InputError, match="more than an event may hold"):
        check_pcm_format(192_000, 8, 192_000, "f32le")
    check_pcm_format(48_000, 2, 48_000, "s16le")  # 1 s of 48 kHz stereo: 192,000 bytes, fine
    with pytest.raises(InputError, match="one stream"):
        pcm_sources([DIGIT, CONTINUOUS_WAV], stream_id="one")
    with pytest.raises(InputError, match="no such file"):
        pcm_sources([tmp_path / "missing.wav"])


def test_sources_report_the_file_its_rate_and_channels() -> None:
    (source,) = pcm_sources([CONTINUOUS_WAV], segment="vad", stream_id="c-1")
    assert source.stream_id == "c-1"
    assert source.extra == {"file": str(CONTINUOUS_WAV), "sample_rate": 8000, "channels": 1}
    assert source.duration_s == pytest.approx(sf.info(str(CONTINUOUS_WAV)).duration)
    first = next(source.open())
    assert first.pcm is not None and first.pcm.segment == "vad" and first.start


def test_to_pcm_takes_int16_as_is_and_scales_floats() -> None:
    ints = to_pcm(np.array([-32768, 0, 32767], np.int16), 8000)
    assert ints.wire_bytes() == np.array([-32768, 0, 32767], "<i2").tobytes()
    floats = to_pcm(np.array([-1.0, 0.5, 1.0]), 8000)
    assert floats.wire_bytes() == np.array([-32768, 16384, 32767], "<i2").tobytes()
    f32 = to_pcm([[0.25, -0.5]], 16000, encoding="f32le", segment="vad")
    assert (f32.channels, f32.segment, f32.samples.tolist()) == (2, "vad", [[0.25, -0.5]])
    with pytest.raises(InputError, match="sample_rate"):
        to_pcm(np.zeros(10, np.int16), 1000)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--segment", "vad"], "add --pcm"),
        (["--packet-ms", "10", "--pcm-encoding", "f32le"], "--packet-ms, --pcm-encoding only apply"),
        (["--pcm", "--chunk-ms", "50"], "with --pcm, give --packet-ms"),
        (["--pcm", "--packet-ms", "2000"], "1000"),
    ],
)
def test_pcm_options_are_checked_before_anything_is_sent(args: list[str], message: str) -> None:
    result = CliRunner().invoke(
        produce_app,
        ["audio", str(DIGIT), *args, "--repository", str(REPOSITORY), "--broker", "127.0.0.1:1"],
    )
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split())
