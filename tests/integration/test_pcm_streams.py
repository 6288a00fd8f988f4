"""Raw PCM through real workers, on the real broker and Redis.

* PCM streams (s16le and f32le, 8 to 48 kHz, mono and stereo, packets from 1 sample to 200 ms, v1 and v2)
  through two workers, one of them killed with SIGKILL mid-stream: every prediction arrives, re-sent ones are
  identical, and each stream's final equals ``rnnstream predict`` on the same audio written to a file (frames
  seen and scores, <= 1e-5). The front-end's carry-over lives in the stream's Redis record, so the surviving worker continues
  the victim's streams exactly.
* A segmented (``segment: vad``) continuous stream: one final per word, with its utterance.
* A packet whose format differs from its stream's is dead-lettered ``bad_pcm`` and leaves the state alone.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from rnnstream.datasets import fsdd_split
from rnnstream.events import decode_dead_letter, decode_prediction, encode_event, event_key
from rnnstream.events.chunk_event import ChunkEvent, pcm_data
from rnnstream.features.audio import compute_features
from rnnstream.features.continuous import build_continuous, score_endpointing, utterances_of
from rnnstream.runtime.pcm import PcmFrontEnd, packets_of, stream_pcm
from rnnstream.runtime.predict import predict_sequence
from rnnstream.runtime.session import OnnxModel
from tests.integration.test_worker_e2e import _interleave
from tests.integration.worker_process import Topics, WorkerProcess, collect, create_topics, produce
from tests.paths import AUDIO_MODEL, FSDD, require_shared

pytestmark = [pytest.mark.services, pytest.mark.slow]

# (rate, channels, encoding, wire format)
FORMATS = [
    (8000, 1, "s16le", 2),
    (8000, 2, "f32le", 1),
    (16000, 1, "f32le", 2),
    (16000, 2, "s16le", 2),
    (22050, 1, "s16le", 1),
    (44100, 2, "s16le", 2),
    (44100, 1, "f32le", 2),
    (48000, 2, "f32le", 2),
    (48000, 1, "s16le", 1),
]


def _audio(path: Path, rate: int, channels: int, encoding: str) -> np.ndarray:
    """An FSDD recording at ``rate`` with ``channels``, as the samples the wire carries: int16 for s16le,
    float32 for f32le."""
    y, sr = sf.read(str(path), dtype="float64")
    assert sr == 8000
    if rate != 8000:
        g = np.gcd(rate, 8000)
        y = resample_poly(y, rate // g, 8000 // g)
    x = np.stack([y, 0.6 * y[::-1]], axis=1) if channels == 2 else y
    if encoding == "s16le":
        return np.clip(np.round(x * 32768 * 0.9), -32768, 32767).astype(np.int16)
    return (x * 0.9).astype(np.float32)


def _sizes(rate: int, rng: np.random.Generator, n: int) -> list[int]:
    """Packet sizes: a run of single samples, 10 ms and 20 ms packets, then random sizes up to 200 ms."""
    sizes = [1] * 40 + [rate // 100] * 3 + [rate // 50] * 3
    while sum(sizes) < n:
        sizes.append(int(rng.integers(1, rate // 5 + 1)))
    return sizes


def _records(
    sid: str,
    model: str,
    audio: np.ndarray,
    rate: int,
    encoding: str,
    wire: int,
    sizes: list[int],
    *,
    segment: str = "none",
    now: int,
) -> list[tuple[bytes, bytes]]:
    out, pos, seq = [], 0, 0
    while pos < len(audio):
        piece = audio[pos : pos + sizes[seq]]
        pos += len(piece)
        event = ChunkEvent(
            stream_id=sid,
            seq=seq,
            model=model,
            start=seq == 0,
            end=pos >= len(audio),
            produced_at_ms=now,
            pcm=pcm_data(piece, rate, encoding=encoding, segment=segment),  # type: ignore[arg-type]
        )
        out.append((event_key(sid), encode_event(event, wire)))  # type: ignore[arg-type]
        seq += 1
    return out


def _as_float(audio: np.ndarray) -> np.ndarray:
    return audio.astype(np.float64) / 32768 if audio.dtype == np.int16 else audio.astype(np.float64)


def test_pcm_streams_through_two_workers_one_killed_equal_the_whole_file_pass(
    broker_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    require_shared()
    rng = np.random.default_rng(11)
    model = OnnxModel(AUDIO_MODEL)
    cfg = model.manifest.features
    assert cfg is not None
    frontend = PcmFrontEnd(cfg)
    t = Topics()
    asyncio.run(create_topics(broker_bootstrap, [t.input, t.predictions, t.dead_letters], partitions=4))
    clips = fsdd_split(FSDD, "test")[::25]  # 12 recordings
    expected: dict[str, tuple[int, dict[int, np.ndarray], np.ndarray]] = {}
    written: dict[str, np.ndarray] = {}
    per_stream = []
    now = int(time.time() * 1000)
    for i, ex in enumerate(clips):
        rate, channels, encoding, wire = FORMATS[i % len(FORMATS)]
        audio = _audio(ex.path, rate, channels, encoding)
        sizes = _sizes(rate, rng, len(audio))
        sid = f"pcm-{i}-{rate}-{channels}-{encoding}"
        records = _records(sid, model.name, audio, rate, encoding, wire, sizes, now=now)
        written[sid] = audio
        frames = compute_features(_as_float(audio), rate, cfg)  # what `rnnstream predict` computes
        whole = predict_sequence(model, frames, 0)
        offline = stream_pcm(
            model,
            packets_of(
                audio.astype(np.float32) / (32768 if encoding == "s16le" else 1),
                rate,
                sizes,
                encoding=encoding,
            ),
            frontend,
        )
        per_seq = {p.seq: p.scores for p in offline.predictions}
        assert len(per_seq) == len(offline.predictions)  # unsegmented: at most one prediction per chunk
        expected[sid] = (len(frames), per_seq, np.array(list(whole.scores.values()), np.float32))
        assert np.abs(offline.predictions[-1].scores - expected[sid][2]).max() <= 1e-5
        per_stream.append(records)
    # `rnnstream predict` itself, on the same audio written to files (16-bit WAV for s16le, float WAV for f32le)
    files = {sid: tmp_path / f"{sid}.wav" for sid in expected}
    for sid, audio in written.items():
        sf.write(
            files[sid],
            audio,
            int(sid.split("-")[2]),
            subtype="PCM_16" if audio.dtype == np.int16 else "FLOAT",
        )
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from rnnstream.cli.main import run; run()",
            "predict",
            str(AUDIO_MODEL),
            *map(str, files.values()),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    cli = {Path(d["input"]).stem: d for d in map(json.loads, proc.stdout.splitlines())}
    for sid, (n_frames, _, whole) in expected.items():
        assert cli[sid]["steps"] == n_frames
        assert (
            max(abs(cli[sid]["scores"][k] - float(v)) for k, v in zip(model.labels, whole, strict=True))
            <= 1e-5
        )
    records = _interleave(per_stream, rng)
    total = sum(len(e[1]) for e in expected.values())
    half = len(records) // 2
    workers = [WorkerProcess(t.env(broker_bootstrap, redis_url), tmp_path / f"w{i}.log") for i in range(2)]
    try:
        for w in workers:
            w.wait_ready()
        asyncio.run(produce(broker_bootstrap, t.input, records[:half]))
        asyncio.run(collect(broker_bootstrap, t.predictions, until=total // 4, timeout_s=90))
        victim = next(w for w in workers if 'outcome="accepted"' in w.get("/metrics")[1])
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait()
        asyncio.run(produce(broker_bootstrap, t.input, records[half:]))
        raw = asyncio.run(collect(broker_bootstrap, t.predictions, until=total * 3, timeout_s=180, idle_s=20))
        letters = asyncio.run(collect(broker_bootstrap, t.dead_letters, until=1, timeout_s=2))
    finally:
        for w in workers:
            w.stop()
    assert not letters, [decode_dead_letter(v).detail for v in letters]
    seen: dict[tuple[str, int], object] = {}
    for p in map(decode_prediction, raw):
        first = seen.setdefault((p.stream_id, p.seq), p)
        assert first.scores == p.scores, "a re-sent prediction differs"  # type: ignore[attr-defined]
    assert len(seen) == total, f"{total - len(seen)} predictions lost"
    for sid, (n_frames, per_seq, whole) in expected.items():
        for seq, scores in per_seq.items():
            got = seen[(sid, seq)]
            assert (
                max(abs(got.scores[k] - float(v)) for k, v in zip(model.labels, scores, strict=True)) <= 1e-5
            )  # type: ignore[attr-defined]
        final = seen[(sid, max(per_seq))]
        assert final.final and final.steps_seen == n_frames, sid  # type: ignore[attr-defined]
        assert max(abs(final.scores[k] - float(v)) for k, v in zip(model.labels, whole, strict=True)) <= 1e-5  # type: ignore[attr-defined]


def test_a_segmented_stream_gets_one_final_per_word(
    broker_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    require_shared()
    model = OnnxModel(AUDIO_MODEL)
    cfg = model.manifest.features
    assert cfg is not None
    words = [e for e in fsdd_split(FSDD, "test") if e.speaker == "jackson"][:12]
    rec = build_continuous([(e.label, e.path) for e in words], seed=3, snr_db=20.0)
    audio = np.clip(np.round(rec.samples * 32768), -32768, 32767).astype(np.int16)
    sizes = [160] * (len(audio) // 160 + 1)  # 20 ms
    t = Topics()
    asyncio.run(create_topics(broker_bootstrap, [t.input, t.predictions, t.dead_letters], partitions=2))
    records = _records(
        "vad-jackson", model.name, audio, 8000, "s16le", 2, sizes, segment="vad", now=int(time.time() * 1000)
    )
    offline = stream_pcm(
        model,
        packets_of(audio.astype(np.float32) / 32768, 8000, sizes, encoding="s16le", segment=True),
        PcmFrontEnd(cfg),
    )
    worker = WorkerProcess(t.env(broker_bootstrap, redis_url), tmp_path / "w.log")
    try:
        worker.wait_ready()
        asyncio.run(produce(broker_bootstrap, t.input, records))
        raw = asyncio.run(
            collect(broker_bootstrap, t.predictions, until=len(offline.predictions), timeout_s=120)
        )
    finally:
        worker.stop()
    got = [decode_prediction(v) for v in raw]
    assert len(got) == len(offline.predictions)
    finals = [p for p in got if p.final]
    assert all(p.utterance is not None for p in got)
    assert [p.utterance.index for p in finals] == list(range(len(finals)))  # type: ignore[union-attr]
    detected = utterances_of(offline.predictions, model.labels)
    assert [(u.index, round(u.start_s * 1000), round(u.end_s * 1000), u.label) for u in detected] == [
        (p.utterance.index, p.utterance.start_ms, p.utterance.end_ms, p.label)
        for p in finals  # type: ignore[union-attr]
    ]
    score = score_endpointing(rec.words, detected)
    assert score.utterances == len(words) and score.matched == len(words)


def test_a_packet_that_changes_the_streams_format_is_dead_lettered(
    broker_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    t = Topics()
    asyncio.run(create_topics(broker_bootstrap, [t.input, t.predictions, t.dead_letters], partitions=1))
    rng = np.random.default_rng(0)
    tone = (0.2 * np.sin(np.arange(16000) / 5) * 32767 + rng.normal(0, 200, 16000)).astype(np.int16)
    now = int(time.time() * 1000)

    def packet(seq: int, piece: np.ndarray, rate: int, end: bool = False) -> tuple[bytes, bytes]:
        event = ChunkEvent(
            stream_id="fmt",
            seq=seq,
            model="fsdd-digits-lstm",
            start=seq == 0,
            end=end,
            produced_at_ms=now,
            pcm=pcm_data(piece, rate),
        )
        return event_key("fmt"), encode_event(event, 2)

    records = [
        packet(0, tone[:4000], 8000),
        packet(1, tone[4000:8000], 16000),  # the rate changes: refused
        packet(2, tone[4000:8000], 8000),
        packet(3, tone[8000:], 8000, end=True),
    ]
    worker = WorkerProcess(t.env(broker_bootstrap, redis_url), tmp_path / "w.log")
    try:
        worker.wait_ready()
        asyncio.run(produce(broker_bootstrap, t.input, records))
        letters = asyncio.run(collect(broker_bootstrap, t.dead_letters, until=1, timeout_s=60))
        raw = asyncio.run(collect(broker_bootstrap, t.predictions, until=3, timeout_s=60))
    finally:
        worker.stop()
    [letter] = [decode_dead_letter(v) for v in letters]
    assert letter.reason == "bad_pcm" and letter.seq == 1 and "sample rate" in letter.detail
    got = {p.seq: p for p in map(decode_prediction, raw)}
    assert sorted(got) == [0, 2, 3] and got[3].final
    # the refused packet changed nothing: the stream is the 8 kHz audio without it
    model = OnnxModel(AUDIO_MODEL)
    assert model.manifest.features is not None
    frames = compute_features(tone.astype(np.float64) / 32768, 8000, model.manifest.features)
    whole = predict_sequence(model, frames, 0)
    assert got[3].steps_seen == len(frames)
    assert max(abs(got[3].scores[k] - v) for k, v in whole.scores.items()) <= 1e-5
