"""Recordings no test has seen before, made from FSDD: other sample rates, stereo, longer than any clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from tests.paths import FSDD, require_shared

#: FSDD recordings (8 kHz mono) used as material.
MATERIAL = [
    "7_jackson_21.wav",
    "3_theo_7.wav",
    "5_lucas_12.wav",
    "8_yweweler_33.wav",
    "1_jackson_45.wav",
    "9_nicolas_40.wav",
    "2_george_20.wav",
    "4_lucas_5.wav",
    "6_theo_30.wav",
]


def _load(name: str) -> np.ndarray:
    data, rate = sf.read(str(FSDD / "recordings" / name), dtype="float64")
    assert rate == 8000
    return np.asarray(data, dtype=np.float64)


def _stereo(mono: np.ndarray) -> np.ndarray:
    right = 0.7 * mono + 0.01 * np.sin(np.arange(len(mono)) / 7.0)  # channels differ
    return np.stack([mono, right], axis=1)


def make_inputs(folder: Path) -> dict[str, Path]:
    """Write the test recordings into ``folder``; returns name → path.

    * ``stereo44k``: one recording at 44.1 kHz, stereo, FLAC;
    * ``long22k``: eight recordings with pauses, 22.05 kHz mono WAV, longer than 2.5 s;
    * ``stereo48k``: one recording at 48 kHz, stereo, Ogg Vorbis;
    * ``short``: 20 ms at 8 kHz, too short for a single frame.
    """
    require_shared()
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "stereo44k": folder / "digit-44k-stereo.flac",
        "long22k": folder / "digits-long-22k.wav",
        "stereo48k": folder / "digit-48k-stereo.ogg",
        "short": folder / "too-short.wav",
    }
    first = _load(MATERIAL[0])
    sf.write(paths["stereo44k"], _stereo(resample_poly(first, 441, 80)), 44100, subtype="PCM_24")
    pause = np.zeros(800)
    long = np.concatenate([part for name in MATERIAL[1:] for part in (_load(name), pause)])
    assert len(long) / 8000 > 2.5
    sf.write(paths["long22k"], resample_poly(long, 441, 160), 22050, subtype="FLOAT")
    second = _load(MATERIAL[1])
    sf.write(paths["stereo48k"], np.clip(_stereo(resample_poly(second, 6, 1)), -1, 1), 48000, format="OGG")
    sf.write(paths["short"], np.zeros(160), 8000)
    return paths
