"""The endpointing figures of the worker's energy detector beside WebRTC's VAD, on the same continuous streams.

    .venv/bin/pip install webrtcvad-wheels      # only for this comparison; not a dependency of rnnstream
    .venv/bin/python scripts/compare_vad.py --data ../shared/data/fsdd [--seed 0] [--split test]

The streams are ``rnnstream eval --continuous``'s (one per FSDD speaker, their digits in random order, 0.3-2 s
of silence, white noise at 20 dB SNR). ``energy`` is the worker's own path (``stream_pcm``: 20 ms packets,
``segment: vad``). ``webrtc-N`` runs ``webrtcvad.Vad(N)`` over 10 ms frames of the 16-bit audio and applies the
same rules with the same settings (an utterance starts after ``min_speech_s`` of speech frames, ends after
``trailing_silence_s`` without; the model gets ``preroll_s`` before and ``postroll_s`` after), feeding the
worker's own log-mel frames of that span to the model in one pass. WebRTC's VAD keeps its state in C memory,
so it could not be continued from Redis by another worker; this measures only whether it cuts better.
Prints a table on stderr and JSON on stdout.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from rnnstream.datasets import fsdd_split
from rnnstream.features.audio import compute_features
from rnnstream.features.continuous import (
    DetectedUtterance,
    EndpointScore,
    score_endpointing,
    speaker_streams,
    utterances_of,
)
from rnnstream.runtime.pcm import EndpointSettings, PcmFrontEnd, packets_of, stream_pcm
from rnnstream.runtime.predict import predict_sequence
from rnnstream.runtime.session import OnnxModel

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "repository" / "fsdd-digits-lstm" / "2"


def _webrtc_utterances(
    vad: object, audio: np.ndarray, frames: np.ndarray, model: OnnxModel, rules: EndpointSettings
) -> list[DetectedUtterance]:
    pcm = np.clip(np.round(audio * 32768), -32768, 32767).astype("<i2")
    hop = 80  # 10 ms at 8 kHz: the log-mel hop too
    n = len(pcm) // hop
    speech = np.array([vad.is_speech(pcm[i * hop : (i + 1) * hop].tobytes(), 8000) for i in range(n)])  # type: ignore[attr-defined]
    onset = max(1, round(rules.min_speech_s * 100))
    trailing = max(1, round(rules.trailing_silence_s * 100))
    pre, post = round(rules.preroll_s * 100), round(rules.postroll_s * 100)
    out: list[DetectedUtterance] = []
    t, run = 0, 0
    while t < n:
        run = run + 1 if speech[t] else 0
        if run >= onset:
            start, last, quiet = t - onset + 1, t + 1, 0
            t += 1
            while t < n and quiet < trailing:
                if speech[t]:
                    last, quiet = t + 1, 0
                else:
                    quiet += 1
                t += 1
            span = frames[max(0, start - pre) : min(len(frames), last + post)]
            label = predict_sequence(model, span, 0).label if len(span) else model.labels[0]
            end_s = ((last - 1) * hop + 256) / 8000
            out.append(DetectedUtterance(len(out), start * hop / 8000, end_s, label))
            run = 0
            continue
        t += 1
    return out


def main(
    data: Annotated[Path, typer.Option(help="The FSDD folder (recordings/).")],
    seed: Annotated[int, typer.Option(help="Seed of the word order, pauses and noise.")] = 0,
    split: Annotated[str, typer.Option(help="test or train.")] = "test",
    snr_db: Annotated[float, typer.Option(help="Noise level, dB below the recordings' mean power.")] = 20.0,
) -> None:
    """Score the energy endpointer and WebRTC's VAD (modes 0-3) on the same continuous streams."""
    try:
        import webrtcvad
    except ImportError:
        print("this comparison needs WebRTC's VAD: .venv/bin/pip install webrtcvad-wheels", file=sys.stderr)
        raise typer.Exit(2) from None
    model = OnnxModel(MODEL)
    cfg = model.manifest.features
    assert cfg is not None
    rules = EndpointSettings()
    frontend = PcmFrontEnd(cfg, rules)
    examples = fsdd_split(data, split)  # type: ignore[arg-type]
    detectors = ["energy", *(f"webrtc-{m}" for m in range(4))]
    totals = {d: EndpointScore(0, 0, 0, 0, 0, 0.1) for d in detectors}
    for speaker, rec in speaker_streams(examples, np.random.default_rng(seed), snr_db=snr_db):
        frames = compute_features(rec.samples, rec.sample_rate, cfg)
        packets = packets_of(rec.samples, 8000, itertools.repeat(160), segment=True)
        found = {"energy": utterances_of(stream_pcm(model, packets, frontend).predictions, model.labels)}
        for mode in range(4):
            found[f"webrtc-{mode}"] = _webrtc_utterances(
                webrtcvad.Vad(mode), rec.samples, frames, model, rules
            )
        for name, utterances in found.items():
            totals[name] += score_endpointing(rec.words, utterances)
        print(f"  {speaker} done", file=sys.stderr, flush=True)
    rows = {name: t.figures() for name, t in totals.items()}
    print(f"{'detector':>10} {'finals':>7} {'found':>6} {'boundaries':>11} {'accuracy':>9}", file=sys.stderr)
    for name, r in rows.items():
        print(
            f"{name:>10} {r['finals']:>7} {r['matched']:>6} {r['boundary_rate']:>11.3f} {r['accuracy']:>9.3f}",
            file=sys.stderr,
        )
    print(json.dumps({"seed": seed, "split": split, "snr_db": snr_db, "detectors": rows}))


if __name__ == "__main__":
    typer.run(main)
