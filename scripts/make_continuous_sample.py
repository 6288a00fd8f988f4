"""Build the bundled continuous recording from the bundled isolated digits, with its truth.

    .venv/bin/python scripts/make_continuous_sample.py            # rewrites services/rnnstream/samples/continuous/
    .venv/bin/python scripts/make_continuous_sample.py --out /tmp/x

The ten FSDD recordings in ``services/rnnstream/samples/fsdd/`` (one per digit, in file-name order: 0 to 9)
are laid end to end by ``rnnstream.features.continuous.build_continuous`` with ``seed=0``, a silence of
0.3 to 2.0 s before each word and after the last, and white noise at 30 dB SNR over everything. It writes

* ``digits-8k.wav``: the recording, 16-bit PCM, mono, 8 kHz (``rnnstream demo --continuous`` streams it);
* ``digits-8k.json``: the truth: each word's label, its speech (``start_s``/``end_s``, seconds from the
  recording's first sample: ``librosa.effects.trim`` at 30 dB of the clean word) and its source file, with
  the seed, gaps, SNR and the attribution.

The output is deterministic (a test rebuilds it and compares). The recording is material adapted from the
Free Spoken Digit Dataset and carries its licence, CC BY-SA 4.0 (services/rnnstream/samples/NOTICE.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import soundfile as sf
import typer

from rnnstream.features.continuous import build_continuous
from rnnstream.samples import CONTINUOUS_DIR, sample_recordings

SEED = 0
GAP_S = (0.3, 2.0)
SNR_DB = 30.0
SAMPLE_RATE = 8000
NAME = "digits-8k"
ATTRIBUTION = (
    'Made from ten recordings of the "Free Spoken Digit Dataset (FSDD)" by Zohar Jackson (Jakobovski) and '
    "contributors, https://github.com/Jakobovski/free-spoken-digit-dataset, licensed under CC BY-SA 4.0; "
    "changes: laid end to end with silences and white noise added (scripts/make_continuous_sample.py)."
)
LICENSE = "CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/)"


def build(out: Path) -> dict[str, Any]:
    """Write ``<out>/digits-8k.wav`` and ``<out>/digits-8k.json``; returns the truth document."""
    recordings = [(digit, path) for path, digit in sample_recordings()]
    rec = build_continuous(recordings, seed=SEED, gap_s=GAP_S, snr_db=SNR_DB, sample_rate=SAMPLE_RATE)
    # 16 bits as libsndfile would write them (x * 32768, rounded, clipped), done here so it is exact
    pcm = np.clip(np.rint(rec.samples * 32768.0), -32768, 32767).astype(np.int16)
    out.mkdir(parents=True, exist_ok=True)
    wav = out / f"{NAME}.wav"
    sf.write(wav, pcm, SAMPLE_RATE, subtype="PCM_16")
    truth: dict[str, Any] = {
        "wav": wav.name,
        "sample_rate": SAMPLE_RATE,
        "samples": len(pcm),
        "duration_s": len(pcm) / SAMPLE_RATE,
        "seed": SEED,
        "gap_s": list(GAP_S),
        "snr_db": SNR_DB,
        "truth": "each word's speech: librosa.effects.trim(top_db=30) of the clean recording, in seconds",
        "words": [
            {"label": w.label, "start_s": round(w.start_s, 6), "end_s": round(w.end_s, 6), "source": w.source}
            for w in rec.words
        ],
        "license": LICENSE,
        "attribution": ATTRIBUTION,
    }
    (out / f"{NAME}.json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    return truth


def main(
    out: Annotated[
        Path, typer.Option("--out", help="Folder to write digits-8k.wav and .json into.")
    ] = CONTINUOUS_DIR,
) -> None:
    """Build the bundled continuous recording (see the module docstring)."""
    truth = build(out)
    size = (out / truth["wav"]).stat().st_size
    typer.echo(
        f"{out / truth['wav']}: {truth['duration_s']:.2f} s, {len(truth['words'])} words, {size:,} bytes; "
        f"truth in {out / (NAME + '.json')}"
    )


if __name__ == "__main__":
    typer.run(main)
