"""The audio front-end: streaming equals whole-file, for any cutting, rate and channel count."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from rnnstream.errors import InputTooShortError
from rnnstream.features.audio import FeatureStream, compute_features, file_features, iter_audio_blocks
from rnnstream.features.resample import StreamingResampler
from rnnstream.repository.manifest import LogMelConfig

CFG = LogMelConfig()
RATES = [8000, 11025, 16000, 22050, 44100, 48000]


def _random_cuts(n: int, rng: np.random.Generator, max_piece: int) -> list[int]:
    cuts, pos = [], 0
    while pos < n:
        pos += int(rng.integers(1, max_piece + 1))
        cuts.append(min(pos, n))
    return cuts


def _stream(samples: np.ndarray, rate: int, cuts: list[int]) -> np.ndarray:
    fs = FeatureStream(CFG, rate)
    parts, start = [], 0
    for end in cuts:
        parts.append(fs.push(samples[start:end]))
        start = end
    parts.append(fs.flush())
    return np.concatenate(parts)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("channels", [1, 2])
def test_streaming_equals_whole_file(rate: int, channels: int) -> None:
    rng = np.random.default_rng(rate + channels)
    n = int(rate * 0.7) + 13
    t = np.arange(n) / rate
    tone = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(n)
    samples = np.stack([tone, 0.5 * tone[::-1]], axis=1) if channels == 2 else tone
    whole = compute_features(samples, rate, CFG)
    for max_piece in (1, 7, 160, 4000):
        cuts = _random_cuts(n, rng, max_piece) if max_piece > 1 else [*range(1, min(n, 3000) + 1), n]
        np.testing.assert_array_equal(_stream(samples, rate, cuts), whole)
    assert whole.shape[1] == CFG.n_mels and whole.dtype == np.float32


@pytest.mark.parametrize("rate", RATES)
def test_resampler_agrees_with_resample_poly(rate: int) -> None:
    x = np.random.default_rng(1).standard_normal(rate // 3 + 5)
    r = StreamingResampler(rate, 8000)
    ours = np.concatenate([r.push(x), r.flush()])
    g = np.gcd(rate, 8000)
    ref = resample_poly(x, 8000 // g, rate // g)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_frames_are_librosa_log_mel() -> None:
    y = np.random.default_rng(2).standard_normal(8000) * 0.1
    ours = compute_features(y, 8000, CFG)
    mel = librosa.feature.melspectrogram(
        y=y,
        sr=8000,
        n_fft=CFG.n_fft,
        hop_length=CFG.hop_length,
        win_length=CFG.win_length,
        center=False,
        power=2.0,
        n_mels=CFG.n_mels,
        fmin=CFG.fmin,
        fmax=CFG.fmax,
    )
    np.testing.assert_allclose(ours, np.log(mel + CFG.log_floor).T, atol=1e-5)


def test_shorter_than_one_frame_is_a_clear_error() -> None:
    with pytest.raises(InputTooShortError, match="too short"):
        compute_features(np.zeros(CFG.n_fft - 1), 8000, CFG)
    # Exactly one frame's worth is fine.
    assert compute_features(np.zeros(CFG.n_fft), 8000, CFG).shape == (1, CFG.n_mels)
    fs = FeatureStream(CFG, 48000)
    assert fs.push(np.zeros(10)).shape == (0, CFG.n_mels)
    assert fs.flush().shape == (0, CFG.n_mels)


def test_file_reading_stereo_any_rate(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rate = 44100
    data = np.random.default_rng(3).uniform(-0.5, 0.5, (rate // 2, 2))
    path = tmp_path / "stereo.flac"
    sf.write(path, data, rate)
    whole = file_features(path, CFG)
    fs = FeatureStream(CFG, rate)
    parts = [fs.push(block) for block, _ in iter_audio_blocks(path, 1000)]
    parts.append(fs.flush())
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_the_computation_is_the_numpy_front_end() -> None:
    """``audio`` only reads files; the frames come from ``logmel``, which the worker image can import."""
    from rnnstream.features import audio, logmel

    assert audio.FeatureStream is logmel.LogMelStream
    assert audio.compute_features is logmel.compute_features
    assert audio.to_mono is logmel.to_mono and audio.mel_power is logmel.mel_power
    assert audio.mel_basis(CFG) is logmel.mel_filterbank(CFG)
