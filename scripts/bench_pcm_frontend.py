"""Micro-benchmark of what raw PCM costs the worker per packet: the model's front-end run server-side.

    .venv/bin/python scripts/bench_pcm_frontend.py                # 20 ms packets, 8/16/44.1/48 kHz
    .venv/bin/python scripts/bench_pcm_frontend.py --packet-ms 100

For each rate (mono, f32le), the time per packet of ``PcmFrontEnd.advance`` continuing a stream (resample,
log-mel, and with ``--segment`` the endpointer), beside the baseline: the step for the same stream sent as ready-made frames
(the front-end's work is then the producer's), the step with the front-end (what a PCM packet costs the
worker's step in all), and the cost of storing the front-end
state (``encode_record``/``decode_record`` of the stream's record). Each figure is the median over
``--repeat`` passes over 5 s of FSDD-like audio (a tone with noise; the content does not change the cost).
Prints a table on stderr and the JSON document on stdout.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from rnnstream.core.chunk_rule import GapPolicy
from rnnstream.core.records import StreamRecord
from rnnstream.core.step import AdmittedChunk, run_step
from rnnstream.runtime.pcm import PcmFrontEnd, packets_of
from rnnstream.runtime.session import OnnxModel
from rnnstream.state.codec import decode_record, encode_record

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "repository" / "fsdd-digits-lstm" / "2"
RATES = (8000, 16000, 44100, 48000)


def _audio(rate: int, seconds: float) -> np.ndarray:
    rng = np.random.default_rng(rate)
    t = np.arange(int(rate * seconds)) / rate
    on = (np.sin(2 * np.pi * 0.7 * (t - 0.2)) > 0) & (t > 0.2)  # tone bursts of 0.7 s, silence first
    y = 0.3 * np.sin(2 * np.pi * 220 * t) * on + 0.01 * rng.standard_normal(len(t))
    return y.astype(np.float32)


def _pass(model: OnnxModel, fe: PcmFrontEnd, packets: list, *, step: bool) -> tuple[float, float, int]:  # type: ignore[type-arg]
    """Seconds in the front-end and in the record codec for one stream's packets; the record's size."""
    state = None
    fe_s = codec_s = 0.0
    record: StreamRecord | None = None
    size = 0
    for seq, p in enumerate(packets):
        if step:
            chunk = AdmittedChunk("s", seq, seq == 0, False, np.zeros((0, 40), np.float32), 0, p)
            started = time.perf_counter()
            res = run_step(model, [chunk], {"s": record}, policy=GapPolicy.SKIP, now_ms=0, frontend=fe)
            fe_s += time.perf_counter() - started
            record = res.writes[0].record
            started = time.perf_counter()
            raw = encode_record(record)
            record = decode_record(raw)
            codec_s += time.perf_counter() - started
            size = len(raw)
        else:
            started = time.perf_counter()
            state = fe.advance(p, state, end=False).state
            fe_s += time.perf_counter() - started
    return fe_s, codec_s, size


def _frames_baseline(model: OnnxModel, fe: PcmFrontEnd, packets: list) -> float:  # type: ignore[type-arg]
    """Seconds the step takes for the same stream sent as ready-made frames, packet by packet: the baseline."""
    state = None
    pieces = []
    for p in packets:
        out = fe.advance(p, state, end=False)
        state = out.state
        pieces.append(np.concatenate([s.frames for s in out.segments]) if out.segments else None)
    record: StreamRecord | None = None
    total = 0.0
    seq = 0
    for frames in pieces:
        if frames is None or not len(frames):
            continue
        chunk = AdmittedChunk("s", seq, seq == 0, False, frames, 0)
        started = time.perf_counter()
        res = run_step(model, [chunk], {"s": record}, policy=GapPolicy.SKIP, now_ms=0)
        total += time.perf_counter() - started
        record = res.writes[0].record
        seq += 1
    return total


def main(
    packet_ms: Annotated[int, typer.Option(help="Packet length in milliseconds.")] = 20,
    seconds: Annotated[float, typer.Option(help="Audio per pass.")] = 5.0,
    repeat: Annotated[int, typer.Option(help="Passes per figure (the median is reported).")] = 3,
    segment: Annotated[bool, typer.Option(help="Run the endpointer too (segment: vad).")] = False,
) -> None:
    """Time the server-side front-end per PCM packet."""
    model = OnnxModel(MODEL)
    assert model.manifest.features is not None
    fe = PcmFrontEnd(model.manifest.features)
    rows = []
    for rate in RATES:
        size = rate * packet_ms // 1000
        audio = _audio(rate, seconds)
        packets = packets_of(audio, rate, [size] * (len(audio) // size), segment=segment)
        n = len(packets)
        front = [_pass(model, fe, packets, step=False)[0] for _ in range(repeat)]
        steps = [_pass(model, fe, packets, step=True) for _ in range(repeat)]
        baseline = [_frames_baseline(model, fe, packets) for _ in range(repeat)]
        rows.append(
            {
                "rate": rate,
                "packet_ms": packet_ms,
                "segment": segment,
                "packets": n,
                "frontend_us_per_packet": statistics.median(front) / n * 1e6,
                "step_frames_baseline_us_per_packet": statistics.median(baseline) / n * 1e6,
                "step_with_frontend_us_per_packet": statistics.median(s[0] for s in steps) / n * 1e6,
                "record_codec_us_per_packet": statistics.median(s[1] for s in steps) / n * 1e6,
                "record_bytes": steps[-1][2],
                "realtime_streams_per_core": (packet_ms / 1000) / (statistics.median(front) / n),
            }
        )
    print(
        f"{'rate':>6} {'front-end µs':>13} {'step (frames) µs':>17} {'step+fe µs':>11} {'codec µs':>9} {'record B':>9} {'x realtime':>11}",
        file=sys.stderr,
    )
    for r in rows:
        print(
            f"{r['rate']:>6} {r['frontend_us_per_packet']:>13.1f} {r['step_frames_baseline_us_per_packet']:>17.1f} "
            f"{r['step_with_frontend_us_per_packet']:>11.1f} "
            f"{r['record_codec_us_per_packet']:>9.1f} {r['record_bytes']:>9} {r['realtime_streams_per_core']:>11.0f}",
            file=sys.stderr,
        )
    print(json.dumps({"model": f"{model.name}:{model.version}", "rows": rows}))


if __name__ == "__main__":
    typer.run(main)
