"""The numpy front-end: librosa's and scipy's numbers without them, and a state that continues a stream."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap

import librosa
import numpy as np
import pytest
import soundfile as sf
from scipy.signal import firwin

from rnnstream.features import logmel
from rnnstream.features.logmel import LogMelStream, compute_features, log_mel_frames, mel_filterbank
from rnnstream.features.resample import StreamingResampler, lowpass_taps
from rnnstream.repository.manifest import LogMelConfig
from tests.paths import FSDD, ROOT, require_shared

CFG = LogMelConfig()
CONFIGS = [
    CFG,
    LogMelConfig(sample_rate=16000, n_fft=512, win_length=400, hop_length=160, n_mels=64, fmax=8000),
    LogMelConfig(sample_rate=22050, n_fft=400, win_length=400, hop_length=100, n_mels=80, fmin=0, fmax=11025),
]
STATE_DTYPES = {np.dtype("f8"), np.dtype("f4"), np.dtype("i4"), np.dtype("i8")}


def _librosa_mel(cfg: LogMelConfig) -> np.ndarray:
    return librosa.filters.mel(
        sr=cfg.sample_rate,
        n_fft=cfg.n_fft,
        n_mels=cfg.n_mels,
        fmin=cfg.fmin,
        fmax=cfg.fmax,
        htk=False,
        norm="slaney",
        dtype=np.float64,
    )


def _librosa_log_mel(y: np.ndarray, cfg: LogMelConfig) -> np.ndarray:
    """How ``audio.py`` computed frames with librosa before the numpy port."""
    n = 1 + (len(y) - cfg.n_fft) // cfg.hop_length
    spec = librosa.stft(
        y[: cfg.n_fft + (n - 1) * cfg.hop_length],
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        window=cfg.window,
        center=False,
    )
    power = _librosa_mel(cfg) @ (np.abs(spec) ** 2)
    return np.log(power + cfg.log_floor).T.astype(np.float32)


# --- Same numbers as librosa and scipy ------------------------------------------------------------------------
@pytest.mark.parametrize("cfg", CONFIGS, ids=["default", "16k-512", "22k-win=nfft"])
def test_mel_filterbank_is_librosas(cfg: LogMelConfig) -> None:
    ours = mel_filterbank(cfg)
    assert ours.shape == (cfg.n_mels, 1 + cfg.n_fft // 2) and ours.dtype == np.float64
    np.testing.assert_allclose(ours, _librosa_mel(cfg), rtol=1e-9, atol=1e-12)
    assert not ours.flags.writeable  # cached: nobody may change it for the others


@pytest.mark.parametrize("window", ["hann", "hamming"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=["default", "16k-512", "22k-win=nfft"])
def test_window_is_librosas_padded_periodic_window(cfg: LogMelConfig, window: str) -> None:
    cfg = cfg.model_copy(update={"window": window})
    ref = librosa.util.pad_center(
        librosa.filters.get_window(window, cfg.win_length, fftbins=True), size=cfg.n_fft
    )
    np.testing.assert_allclose(logmel.analysis_window(cfg), ref, rtol=1e-12, atol=1e-15)


def test_an_unknown_window_is_a_clear_error() -> None:
    cfg = CFG.model_copy(update={"window": "blackman"})
    with pytest.raises(ValueError, match="unsupported window 'blackman'"):
        LogMelStream(cfg, 8000)
    with pytest.raises(ValueError, match="unsupported window"):
        log_mel_frames(np.zeros(1000), cfg)


def test_log_mel_frames_are_librosas_on_real_audio() -> None:
    require_shared()
    data, rate = sf.read(FSDD / "recordings" / "3_theo_7.wav", dtype="float64")
    assert rate == CFG.sample_rate and data.ndim == 1
    ours = log_mel_frames(data, CFG)
    ref = _librosa_log_mel(data, CFG)
    assert ours.shape == ref.shape and ours.dtype == np.float32 and len(ours) > 10
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("cfg", CONFIGS, ids=["default", "16k-512", "22k-win=nfft"])
def test_log_mel_frames_are_librosas_on_noise(cfg: LogMelConfig) -> None:
    y = np.random.default_rng(4).standard_normal(cfg.sample_rate) * 0.1
    np.testing.assert_allclose(log_mel_frames(y, cfg), _librosa_log_mel(y, cfg), rtol=0, atol=1e-5)


@pytest.mark.parametrize("cfg", CONFIGS, ids=["default", "16k-512", "22k-win=nfft"])
def test_the_power_spectrum_is_librosas_stft_power(cfg: LogMelConfig) -> None:
    y = np.random.default_rng(5).standard_normal(cfg.sample_rate // 2)
    ref = (
        np.abs(
            librosa.stft(
                y,
                n_fft=cfg.n_fft,
                hop_length=cfg.hop_length,
                win_length=cfg.win_length,
                window=cfg.window,
                center=False,
            )
        )
        ** 2
    )
    ours = logmel.power_spectrum(y, cfg)
    assert ours.shape == ref.T.shape == (logmel.n_frames(len(y), cfg), cfg.n_fft // 2 + 1)
    np.testing.assert_allclose(ours, ref.T, rtol=1e-6, atol=1e-9)
    assert logmel.power_spectrum(y[: cfg.n_fft - 1], cfg).shape == (0, cfg.n_fft // 2 + 1)


@pytest.mark.parametrize(("orig", "target"), [(44100, 8000), (48000, 16000), (8000, 16000)])
def test_lowpass_taps_are_scipys_firwin(orig: int, target: int) -> None:
    g = np.gcd(orig, target)
    max_rate = max(orig, target) // g
    ref = firwin(20 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0))
    ours = lowpass_taps(orig, target)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)
    assert lowpass_taps(orig, target) is ours  # designed once per rate pair


# --- The state continues a stream -----------------------------------------------------------------------------
def _signal(rate: int, channels: int, seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(rate * seconds) + 7
    t = np.arange(n) / rate
    tone = 0.3 * np.sin(2 * np.pi * 330 * t) + 0.05 * rng.standard_normal(n)
    return np.stack([tone, 0.5 * np.roll(tone, 11)], axis=1) if channels == 2 else tone


def _as_stored(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What a binary codec gives back: read-only arrays rebuilt from the raw bytes."""
    return {k: np.frombuffer(v.tobytes(), dtype=v.dtype).reshape(v.shape) for k, v in state.items()}


def _check_small(stream: LogMelStream, state: dict[str, np.ndarray]) -> None:
    assert {v.dtype for v in state.values()} <= STATE_DTYPES, {k: v.dtype for k, v in state.items()}
    taps_per_phase = -(-len(lowpass_taps(stream.source_rate, stream.cfg.sample_rate)) // stream._resampler.up)
    assert len(state["resampler.buffer"]) < taps_per_phase
    assert len(state["pending"]) < stream.cfg.n_fft


def _cuts(n: int, kind: str, rate: int, rng: np.random.Generator) -> list[int]:
    if kind == "1-sample":  # every sample its own piece for the first 1,500, then the rest in one
        return [*range(1, min(n, 1500) + 1), n]
    if kind == "20ms":
        return [*range(rate // 50, n, rate // 50), n]
    cuts, pos = [], 0
    while pos < n:
        pos += int(rng.integers(1, 3000))
        cuts.append(min(pos, n))
    return cuts


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("kind", ["1-sample", "random", "20ms"])
def test_state_round_trip_between_every_piece_gives_the_whole_pass(
    rate: int, channels: int, kind: str
) -> None:
    samples = _signal(rate, channels, 0.4, rate + channels)
    whole = compute_features(samples, rate, CFG)
    stream = LogMelStream(CFG, rate)
    parts, start = [], 0
    for end in _cuts(len(samples), kind, rate, np.random.default_rng(rate)):
        state = stream.state()
        _check_small(stream, state)
        stream = LogMelStream.from_state(CFG, rate, _as_stored(state))
        parts.append(stream.push(samples[start:end]))
        start = end
    stream = LogMelStream.from_state(CFG, rate, _as_stored(stream.state()))
    parts.append(stream.flush())
    assert stream.frames_out == len(whole)
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    # A flushed stream stays flushed across a round trip.
    again = LogMelStream.from_state(CFG, rate, stream.state())
    assert again.flushed and again.flush().shape == (0, CFG.n_mels)
    with pytest.raises(ValueError, match="flushed"):
        again.push(np.zeros(10))


def test_resampler_state_round_trip_gives_the_whole_pass() -> None:
    x = np.random.default_rng(5).standard_normal(30_000)
    whole = StreamingResampler(44100, 16000)
    ref = np.concatenate([whole.push(x), whole.flush()])
    r, parts = StreamingResampler(44100, 16000), []
    for piece in np.array_split(x, 97):
        r = StreamingResampler.from_state(44100, 16000, _as_stored(r.state()))
        parts.append(r.push(piece))
    parts.append(StreamingResampler.from_state(44100, 16000, r.state()).flush())
    np.testing.assert_array_equal(np.concatenate(parts), ref)


def test_the_state_is_a_copy() -> None:
    stream = LogMelStream(CFG, 16000)
    stream.push(_signal(16000, 1, 0.05, 1))
    state = stream.state()
    restored = LogMelStream.from_state(CFG, 16000, state)
    before = restored.state()
    for value in state.values():
        value[...] = 0
    assert all(np.array_equal(before[k], v) for k, v in restored.state().items())


def test_hop_longer_than_the_frame_skips_the_samples_between_frames() -> None:
    cfg = LogMelConfig(n_fft=256, win_length=200, hop_length=300)
    y = _signal(8000, 1, 0.5, 6)
    stream, parts = LogMelStream(cfg, 8000), []
    for piece in np.array_split(y, 61):
        stream = LogMelStream.from_state(cfg, 8000, stream.state())
        parts.append(stream.push(piece))
    parts.append(stream.flush())
    np.testing.assert_array_equal(np.concatenate(parts), log_mel_frames(y, cfg))


def _state() -> dict[str, np.ndarray]:
    stream = LogMelStream(CFG, 44100)
    stream.push(_signal(44100, 1, 0.1, 2))
    return stream.state()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda s: s.pop("pending"), "missing keys \\['pending'\\]"),
        (lambda s: s.update(extra=np.zeros(1)), "unexpected keys \\['extra'\\]"),
        (lambda s: s.pop("resampler.buffer"), "missing keys \\['resampler.buffer'\\]"),
        (lambda s: s.update(pending=s["pending"].astype(np.float32)), "'pending': expected a 1-d float64"),
        (lambda s: s.update(frames_out=s["frames_out"].reshape(1)), "'frames_out': expected a 0-d int64"),
        (lambda s: s.update(frames_out=[3]), "'frames_out': expected a 0-d int64 array, got <class 'list'>"),
        (lambda s: s.update(frames_out=s["frames_out"] + 1), "frames_out=.*make"),
        (lambda s: s.update(pending=s["pending"][1:]), "pending samples"),
        (lambda s: s.update({"resampler.buffer": s["resampler.buffer"][1:]}), "buffer holds"),
        (lambda s: s.update({"resampler.n_in": s["resampler.n_in"] + 500}), "next_out="),
        (lambda s: s.update({"resampler.finished": np.array(2)}), "finished=2"),
        (
            lambda s: s.update({"resampler.rates": np.array([48000, 8000])}),
            "state is for \\[48000, 8000\\] Hz",
        ),
    ],
)
def test_a_bad_state_is_a_clear_error(change, match: str) -> None:  # type: ignore[no-untyped-def]
    state = _state()
    LogMelStream.from_state(CFG, 44100, state)  # the untouched state is fine
    change(state)
    with pytest.raises(ValueError, match=match):
        LogMelStream.from_state(CFG, 44100, state)


def test_a_state_for_another_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="state is for \\[44100, 8000\\] Hz, not \\[48000, 8000\\]"):
        LogMelStream.from_state(CFG, 48000, _state())


# --- No librosa, no scipy -------------------------------------------------------------------------------------
def _module_imports(module: str) -> set[str]:
    path = ROOT / "services" / "rnnstream" / "features" / f"{module}.py"
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_front_end_imports_only_numpy_and_the_standard_library() -> None:
    allowed = {"rnnstream.errors", "rnnstream.features.resample", "rnnstream.repository.manifest"}
    for module in ("logmel", "resample"):
        for name in _module_imports(module):
            top = name.split(".")[0]
            assert top == "numpy" or top in sys.stdlib_module_names or name in allowed, (module, name)


def test_the_front_end_works_without_librosa_and_scipy() -> None:
    code = textwrap.dedent(
        """
        import sys

        class Refuse:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {"librosa", "scipy", "soundfile"}:
                    raise ImportError(f"{name} is not in the worker image")
                return None

        sys.meta_path.insert(0, Refuse())
        import numpy as np
        from rnnstream.features.logmel import LogMelStream
        from rnnstream.repository.manifest import LogMelConfig

        stream = LogMelStream(LogMelConfig(), 44100)
        x = np.random.default_rng(0).standard_normal((44100, 2)) * 0.1
        frames = np.concatenate([stream.push(x), stream.flush()])
        assert not {"librosa", "scipy", "soundfile"} & set(sys.modules)
        print(frames.shape, frames.dtype)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["(97,", "40)", "float32"]
