"""Training-time audio augmentation: the clean path is the serving front-end, the others vary it as documented."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from rnnstream.features.audio import file_features
from rnnstream.repository.manifest import LogMelConfig
from rnnstream_offline.augment import AudioAugmentConfig, AugmentedAudio, speed_perturb, stretch_frames
from tests.paths import FSDD, require_shared

CFG = LogMelConfig()


@pytest.fixture(scope="module")
def files() -> list[str]:
    require_shared()
    return [str(p) for p in sorted((FSDD / "recordings").glob("3_theo_*.wav"))[:4]]


def test_clean_draws_are_the_serving_features(files: list[str]) -> None:
    aug = AugmentedAudio(files, CFG, replace(AudioAugmentConfig(), clean_prob=1.0), np.zeros(40, np.float32))
    rng = np.random.default_rng(0)
    for path, x in zip(files, aug.draw(range(len(files)), rng), strict=True):
        ref = file_features(path, CFG)
        assert x.shape == ref.shape
        assert np.abs(x - ref).max() <= 1e-5


def test_speed_perturbation_changes_the_length_by_the_factor() -> None:
    y = np.sin(np.arange(8000) / 5.0)
    assert len(speed_perturb(y, 1.1)) == pytest.approx(8000 / 1.1, abs=2)
    assert len(speed_perturb(y, 0.9)) == pytest.approx(8000 / 0.9, abs=2)
    assert speed_perturb(y, 1.0) is y


def test_augmented_draws_vary_repeat_with_the_seed_and_mask_with_the_fill(files: list[str]) -> None:
    fill = np.full(40, -3.0, np.float32)
    cfg = replace(AudioAugmentConfig(), clean_prob=0.0, noise_prob=1.0, snr_db=(0.0, 0.0), time_masks=0)
    aug = AugmentedAudio(files, CFG, cfg, fill)
    a = aug.draw([0, 1, 2, 3], np.random.default_rng(7))
    b = aug.draw([0, 1, 2, 3], np.random.default_rng(7))
    c = aug.draw([0, 1, 2, 3], np.random.default_rng(8))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, c, strict=True))
    clean = [file_features(p, CFG) for p in files]
    # Noise at 0 dB SNR lifts the quiet parts well above the clean recording's background.
    for x, ref in zip(a, clean, strict=True):
        assert np.median(x) > np.median(ref) + 1.0
        assert abs(len(x) - len(ref)) <= 2 * cfg.pad_frames + len(ref) * 0.12
    # A mel-band mask is the fill value over whole columns.
    masked = [np.all(x == fill[None, :], axis=0) for x in a]
    assert any(m.any() for m in masked)


def test_a_tempo_stretch_keeps_each_moments_spectrum_and_scales_the_length() -> None:
    rng = np.random.default_rng(0)
    power = rng.exponential(1.0, (40, 40)).astype(np.float32)
    longer, shorter = stretch_frames(power, 1.3), stretch_frames(power, 1 / 1.3)
    assert len(longer) == 52 and len(shorter) == 31
    for out in (longer, shorter):  # the first and last frames are kept, the rest lie between neighbours
        assert np.array_equal(out[0], power[0]) and np.array_equal(out[-1], power[-1])
        assert out.min() >= power.min() and out.max() <= power.max()
    assert stretch_frames(power, 1.0) is power


def test_tempo_and_an_early_end_change_the_length_and_stay_off_by_default(files: list[str]) -> None:
    def lengths(cfg: AudioAugmentConfig) -> list[int]:
        aug = AugmentedAudio(files, CFG, cfg, np.zeros(40, np.float32))
        return [len(x) for x in aug.draw(range(4), np.random.default_rng(1))]

    base = replace(AudioAugmentConfig(), clean_prob=0.0, pad_frames=0, speeds=(1.0,), time_masks=0)
    ref = lengths(base)
    assert ref == [len(file_features(p, CFG)) for p in files]
    slow = lengths(replace(base, tempo=0.5, tempo_prob=1.0))
    assert slow != ref and all(n / 1.5 - 1 <= s <= n * 1.5 + 1 for n, s in zip(ref, slow, strict=True))
    trimmed = lengths(replace(base, trim_prob=1.0, trim_share=0.3))
    assert all(n * 0.7 - 1 <= t <= n for n, t in zip(ref, trimmed, strict=True)) and trimmed != ref
