"""Synthetic spoken digits (``rnnstream_offline.synth``): espeak-ng (installed by scripts/setup.sh) writes
FSDD-named recordings that the training pipeline reads as extra examples of their own voices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rnnstream.datasets import FSDD_LABELS
from rnnstream.features.audio import file_features
from rnnstream.repository.manifest import LogMelConfig
from rnnstream_offline.synth import (
    SynthesiserMissing,
    espeak_version,
    extra_examples,
    recorded_synthesiser,
    synthesise_digits,
)


def test_one_voice_says_the_ten_digits_as_fsdd_named_recordings(tmp_path: Path) -> None:
    report = synthesise_digits(
        tmp_path, accents=["en-gb"], variants=["f2", "m3"], pitches=[40], progress=False
    )
    assert report.files == 20 and report.voices == 2 and report.version.startswith("eSpeak NG")
    assert recorded_synthesiser(tmp_path) == report.version == espeak_version()  # written beside them
    assert recorded_synthesiser(tmp_path / "elsewhere") is None
    examples = extra_examples(tmp_path)
    assert sorted(e.label for e in examples) == sorted(FSDD_LABELS * 2)
    assert {e.speaker for e in examples} == {"extra:sen-gbf2p40", "extra:sen-gbm3p40"}
    for e in examples:
        samples, rate = sf.read(e.path)
        assert rate == 8000 and 0.2 < len(samples) / rate < 1.2 and np.abs(samples).max() > 0.05
        assert len(file_features(e.path, LogMelConfig())) > 15  # frames at the model's 8 kHz
    # another voice says another sound: the recordings of one digit differ between the two voices
    first = {e.speaker: sf.read(e.path)[0] for e in examples if e.label == "7"}
    a, b = first.values()
    assert len(a) != len(b) or not np.allclose(a, b)


def test_the_same_seed_gives_the_same_recordings(tmp_path: Path) -> None:
    for sub in ("a", "b"):
        synthesise_digits(
            tmp_path / sub, accents=["en-us"], variants=["m1"], pitches=[50], seed=3, progress=False
        )
    for path in sorted((tmp_path / "a").glob("*.wav")):
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes()


def test_extra_examples_refuse_an_empty_folder_and_a_misnamed_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"no \.wav recordings"):
        extra_examples(tmp_path)
    sf.write(tmp_path / "seven.wav", np.zeros(800), 8000)
    with pytest.raises(ValueError, match="not named"):
        extra_examples(tmp_path)


def test_a_missing_synthesiser_is_a_clear_error() -> None:
    with pytest.raises(SynthesiserMissing, match="apt-get install espeak-ng"):
        espeak_version("espeak-ng-not-installed")
