"""Leave-one-speaker-out sweep of audio recipes: the exploration behind ``fsdd-digits-gru/1`` (docs/models.md).

Each run trains one fold per held-out speaker (one torch thread, no export) and appends one JSON line per fold
to ``--out``: the held-out accuracy, the per-epoch curve, the confusion matrix and the configuration. The
recordings are read, resampled per speed factor and turned into mel power once, then cached (``--cache``).

This is an exploration tool, not the training pipeline: options a run can set (``--config``, JSON):

- ``cell``, ``hidden``, ``layers``, ``dropout``, ``epochs``, ``lr``, ``seed``, ``pool``: as ``rnnstream train``;
  ``quiet_db``: with ``"pool":"gated"``, frames more than this many dB below the stream's running mean power
  do not move the prediction (``NetworkConfig.quiet_db``; it needs ``"feat":"mfcc_net"`` or no ``feat``, as
  it reads the level off the log-mel frames);
- ``augment``: fields of ``AudioAugmentConfig`` over the ``v2`` preset (gain ±6 dB, no equaliser, no DC);
- ``tilt_db``: a random equaliser (tilt plus bend, ±tilt_db) on 80 % of the drawn examples, applied after
  the masks; ``eq_db``: a random smooth equaliser of ``eq_order`` (default 6) cosine terms over the mel
  bands, the k-th with an amplitude of up to ``eq_db / k`` dB (an offset of the first cepstra: the
  variety of microphones and rooms), on 80 % of them; ``hp``: on half of them, a second-order high-pass
  (Butterworth magnitude) with its corner drawn from 50 Hz to ``hp`` Hz, as small microphones and
  telephone lines cut the low end; ``lp``: on half of them, a second-order low-pass with its corner drawn
  from ``lp`` Hz to 4 kHz (a duller microphone: weaker sibilants); ``dc``: a DC offset of up to ``dc`` times the RMS on half of them; ``warp``: a frequency warp by a
  factor within ±warp (interpolating the mel bands) on 80 %;
- ``feat``: ``framemean`` (each frame minus its mean over the bands, = ``--norm frame``), ``mfcc``
  (cepstral coefficients 1..``ncep``, = ``--norm cepstral``), ``fmkeep`` (framemean plus the frame mean as a
  41st input), ``mfcc_cmn`` (the cepstra minus their causal running mean over the utterance so far, shrunk
  towards the training mean by ``prior`` frames (default 10): streaming cepstral mean normalisation),
  ``mfcc_lvl`` (the cepstra plus one input: the frame's level, its mean log-mel, minus the running mean of
  that level over the stream so far; gain-invariant, and it tells the quiet frames after a word from the
  word, which the cepstra alone do not),
  ``mfcc_cmnkeep`` (both, side by side), ``mfcc_net`` (the same cepstra as ``mfcc``, taken inside the
  network from the log-mel frames, = ``--norm cepstral``: what ``quiet_db`` needs, since it reads the
  frame's level from the log-mel frames), or none (= ``--norm global``);
- ``ls``: label smoothing; ``wd``: AdamW weight decay (default 1e-5); ``fnoise``: ``--feature-noise``;
  ``frame_loss``: add this weight times the loss of every step of each sequence's second half;
  ``ema``: evaluate and keep an exponential moving average of the weights with this decay per batch;
- ``vtlp``: vocal-tract-length perturbation on the linear spectrum: each recording (at speed 1) also as
  ``vtlp_steps`` (default 4) variants whose power spectrum is stretched along frequency by factors evenly
  spaced within ``1 ± vtlp`` (formants moved, duration kept) before the serving mel filters; a drawn
  example takes one of the speed or warp variants at random;
- ``synth``: a folder of extra training recordings named like FSDD's (``{digit}_{voice}_{index}.wav``, for
  instance spoken by a speech synthesiser), added to every fold's training set and never tested;
- ``reverb``: on half of the drawn examples, late reverberation in the mel power domain (each band plus an
  exponentially decaying sum of its past frames, a 60 dB decay time of 0.1 to ``reverb`` s, a reverberant
  share of 0.05-0.5).

The recipe it led to is then trained and measured with the real pipeline (``make loso``); the two differ in
where the equaliser and DC offset are applied (see ``rnnstream_offline.augment``).

    python scripts/loso_sweep.py --data ../shared/data/fsdd --name fm --config '{"feat": "framemean"}'
    python scripts/loso_sweep.py --summary
    python scripts/loso_sweep.py --voices     # level, DC offset, word length, lowest bands per speaker
    python scripts/loso_sweep.py --ensemble fm,base   # the folds of the runs' averaged probabilities
    python scripts/loso_sweep.py --confusions fm      # each fold's largest confusions
    python scripts/loso_sweep.py --durations          # frames near the peak / all frames, per voice and digit
    python scripts/loso_sweep.py --trajectory jackson:6 --config '{...}'   # what one fold says frame by frame
"""

from __future__ import annotations

import argparse
import copy
import json
import pickle
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import librosa
import numpy as np
import torch
from numpy.typing import NDArray
from scipy.fft import dct
from scipy.signal import lfilter
from tqdm import tqdm

from rnnstream.datasets import FSDD_LABELS, fsdd_speaker_split, fsdd_speakers
from rnnstream.features.audio import file_features, mel_power
from rnnstream.repository.manifest import LogMelConfig
from rnnstream_offline.augment import AudioAugmentConfig, AugmentedAudio
from rnnstream_offline.networks import NetworkConfig, RecurrentClassifier, frame_inputs
from rnnstream_offline.synth import WORDS
from rnnstream_offline.training import TrainConfig, fit, pad_batch, predict_labels

FEATURES = LogMelConfig()


def level_db(log_mel: NDArray[np.float32]) -> NDArray[np.float64]:
    """Each frame's level in dB (its mean mel power) below the recording's loudest frame (0 at that frame)."""
    level: NDArray[np.float64] = 10 * np.log10(np.exp(log_mel.astype(np.float64)).mean(1))
    return level - level.max()


def transform(x: NDArray[np.float32], cfg: dict[str, Any]) -> NDArray[np.float32]:
    """The per-frame input transform of ``cfg["feat"]``."""
    mode = cfg.get("feat", "none")
    x = np.asarray(x, np.float32)
    if mode == "framemean":
        return x - x.mean(1, keepdims=True)
    if mode in ("mfcc", "mfcc_cmn", "mfcc_cmnkeep"):
        c = dct(x, type=2, norm="ortho", axis=1)[:, 1 : cfg.get("ncep", 13) + 1].astype(np.float32)
        if mode == "mfcc":
            return c
        mu = np.asarray(cfg.get("_mu", np.zeros(c.shape[1])), np.float32)
        prior = float(cfg.get("prior", 10.0))
        steps = np.arange(1, len(c) + 1, dtype=np.float32)[:, None]
        running = mu + np.cumsum(c - mu, 0) / (prior + steps)
        cmn = (c - running).astype(np.float32)
        return cmn if mode == "mfcc_cmn" else np.concatenate([c, cmn], 1)
    if mode == "mfcc_lvl":  # the cepstra, plus the frame's level against its running mean over the stream
        c = dct(x, type=2, norm="ortho", axis=1)[:, 1 : cfg.get("ncep", 13) + 1].astype(np.float32)
        level = x.mean(1)
        running = np.cumsum(level) / np.arange(1, len(level) + 1)
        return np.concatenate([c, (level - running)[:, None]], 1).astype(np.float32)
    if mode == "fmkeep":
        m = x.mean(1, keepdims=True)
        return np.concatenate([x - m, m], 1)
    return x


def input_width(cfg: dict[str, Any]) -> int:
    mode = cfg.get("feat", "none")
    ncep = cfg.get("ncep", 13)
    widths = {
        "fmkeep": FEATURES.n_mels + 1,
        "mfcc": ncep,
        "mfcc_cmn": ncep,
        "mfcc_cmnkeep": 2 * ncep,
        "mfcc_lvl": ncep + 1,
    }
    return widths.get(mode, FEATURES.n_mels)


def _read(examples: list[Any], aug: AudioAugmentConfig, cache: Path) -> tuple[AugmentedAudio, list[Any]]:
    """The recordings' augmentation variants and clean features, read once and cached in ``cache``."""
    if cache.exists():
        with cache.open("rb") as f:
            audio, clean = pickle.load(f)  # our own cache
    else:
        print(f"reading {len(examples)} recordings (cached in {cache})", file=sys.stderr)
        audio = AugmentedAudio([e.path for e in examples], FEATURES, aug, fill=np.zeros(40, np.float32))
        clean = [file_features(e.path, FEATURES) for e in tqdm(examples, desc="features", leave=False)]
        cache.parent.mkdir(parents=True, exist_ok=True)
        with cache.open("wb") as f:
            pickle.dump((audio, clean), f)
    audio.cfg = aug
    return audio, clean


def load(data: Path, aug: AudioAugmentConfig, cache_dir: Path) -> tuple[AugmentedAudio, list[Any], list[Any]]:
    """Every FSDD recording: its augmentation variants, clean features and example record (cached)."""
    examples = [e for s in fsdd_speakers(data) for e in fsdd_speaker_split(data, s, "test")]
    audio, clean = _read(examples, aug, cache_dir / f"loso_sweep_{'_'.join(map(str, aug.speeds))}.pkl")
    return audio, clean, examples


def synthetic(
    folder: Path, aug: AudioAugmentConfig, cache_dir: Path
) -> tuple[list[Any], list[Any], list[Any]]:
    """Extra training recordings named like FSDD's (``rnnstream_offline.synth.extra_examples``): their
    augmentation variants, clean features and example records, speaker ``extra:VOICE`` (never a held-out
    speaker, so they are in every fold's training set; cached)."""
    from rnnstream_offline.synth import extra_examples

    examples = extra_examples(folder)
    cache = cache_dir / f"loso_sweep_synth_{folder.name}_{'_'.join(map(str, aug.speeds))}.pkl"
    audio, clean = _read(examples, aug, cache)
    return audio.variants, clean, examples


def vtlp_variants(examples: list[Any], factors: list[float], cache_dir: Path) -> list[list[Any]]:
    """Per recording, its mel power with the power spectrum stretched along frequency by each factor (cached)."""
    from rnnstream.features.audio import power_spectrum, read_mono
    from rnnstream.features.logmel import mel_filterbank
    from rnnstream_offline.augment import _Variant

    cache = cache_dir / f"loso_sweep_vtlp_{'_'.join(f'{a:.3f}' for a in factors)}.pkl"
    if cache.exists():
        with cache.open("rb") as f:
            return pickle.load(f)  # type: ignore[no-any-return]  # our own cache
    freqs = np.fft.rfftfreq(FEATURES.n_fft, d=1.0 / FEATURES.sample_rate)
    out = []
    for e in tqdm(examples, desc="vtlp variants", leave=False):
        y = read_mono(e.path, FEATURES.sample_rate)
        spectrum = power_spectrum(y, FEATURES)  # [frames, bins]
        row = []
        for a in factors:  # P'(f) = P(f / a): a > 1 moves the formants up (a shorter vocal tract)
            warped = np.stack([np.interp(freqs / a, freqs, p) for p in spectrum])
            power = (mel_filterbank(FEATURES) @ warped.T).T.astype(np.float32)
            row.append(_Variant(power, float(np.mean(y**2))))
        out.append(row)
    with cache.open("wb") as f:
        pickle.dump(out, f)
    return out


def run_fold(
    speaker: str,
    cfg: dict[str, Any],
    audio: AugmentedAudio,
    clean: list[Any],
    examples: list[Any],
    keep: dict[str, Any] | None = None,
) -> dict[str, Any]:
    labels = [FSDD_LABELS.index(e.label) for e in examples]
    train_i = [i for i, e in enumerate(examples) if e.speaker != speaker]
    test_i = [i for i, e in enumerate(examples) if e.speaker == speaker]
    if str(cfg.get("feat", "")).startswith("mfcc_cmn"):  # the shrinkage target: the training speakers' mean
        cfg = {
            **cfg,
            "_mu": np.concatenate([transform(clean[i], {**cfg, "feat": "mfcc"}) for i in train_i]).mean(0),
        }
    train_x = [transform(clean[i], cfg) for i in train_i]
    test_x = [transform(clean[i], cfg) for i in test_i]
    frames = np.concatenate(train_x)
    sub = copy.copy(audio)
    sub.variants = [audio.variants[i] for i in train_i]
    if cfg.get("vtlp", 0.0) > 0:
        steps = int(cfg.get("vtlp_steps", 4))
        factors = [
            float(a) for a in np.linspace(1 - cfg["vtlp"], 1 + cfg["vtlp"], steps + 1) if abs(a - 1) > 1e-9
        ]
        warped = vtlp_variants(examples, factors, Path(cfg.get("_cache", "runs/loso-sweep")))
        sub.variants = [audio.variants[i] + warped[i] for i in train_i]
        sub.cfg = replace(audio.cfg, speeds=audio.cfg.speeds + (1.0,) * len(factors))
    sub.fill = np.concatenate([clean[i] for i in train_i]).mean(0).astype(np.float32)
    dc_power = mel_power(np.ones(8000), FEATURES).T.astype(np.float32).mean(0)
    centres = librosa.mel_frequencies(n_mels=FEATURES.n_mels + 2, fmin=FEATURES.fmin, fmax=FEATURES.fmax)[
        1:-1
    ]
    bands = np.linspace(-1, 1, FEATURES.n_mels)
    eq_basis = np.cos(
        np.pi * np.arange(1, 21)[:, None] * (np.arange(FEATURES.n_mels) + 0.5) / FEATURES.n_mels
    )

    def draw(indices: Any, rng: np.random.Generator) -> list[Any]:
        out = []
        for i in indices:
            v = sub._one(int(i), rng)
            if cfg.get("tilt_db", 0.0) > 0 and rng.uniform() < 0.8:
                curve = rng.uniform(-1, 1) * bands + rng.uniform(-0.5, 0.5) * (bands**2 - 1 / 3)
                v = v + np.float32(cfg["tilt_db"] / 10 * np.log(10)) * curve.astype(np.float32)
            if cfg.get("eq_db", 0.0) > 0 and rng.uniform() < 0.8:
                order = np.arange(1, int(cfg.get("eq_order", 6)) + 1)
                gains = rng.uniform(-1, 1, len(order)) * cfg["eq_db"] / order
                curve = (gains[:, None] * eq_basis[: len(order)]).sum(0)
                v = v + np.float32(np.log(10) / 10) * curve.astype(np.float32)
            if cfg.get("hp", 0.0) > 0 and rng.uniform() < 0.5:
                corner = rng.uniform(50.0, cfg["hp"])
                v = v + np.log(1.0 / (1.0 + (corner / centres) ** 4)).astype(np.float32)
            if cfg.get("lp", 0.0) > 0 and rng.uniform() < 0.5:
                corner = rng.uniform(cfg["lp"], 4000.0)
                v = v + np.log(1.0 / (1.0 + (centres / corner) ** 4)).astype(np.float32)
            if cfg.get("dc", 0.0) > 0 and rng.uniform() < 0.5:
                power = np.float32(rng.uniform(0, cfg["dc"]) ** 2 * sub.variants[int(i)][0].sample_power)
                v = np.log(np.exp(v) + power * dc_power).astype(np.float32)
            if cfg.get("warp", 0.0) > 0 and rng.uniform() < 0.8:
                a = rng.uniform(1 - cfg["warp"], 1 + cfg["warp"])
                p = np.exp(v)
                v = np.log(np.stack([np.interp(centres / a, centres, row) for row in p])).astype(np.float32)
            if cfg.get("reverb", 0.0) > 0 and rng.uniform() < 0.5:
                # late reverberation in the power domain: each band plus an exponentially decaying sum of
                # its past frames (decay time up to ``reverb`` s for 60 dB, reverberant share 0.05-0.5)
                rt60 = rng.uniform(0.1, cfg["reverb"])
                a = 10 ** (-6 * FEATURES.hop_length / FEATURES.sample_rate / rt60)
                p = np.exp(v.astype(np.float64))
                tail = lfilter([0.0, 1.0 - a], [1.0, -a], p, axis=0)
                v = np.log(p + rng.uniform(0.05, 0.5) * tail).astype(np.float32)
            out.append(transform(v, cfg))
        return out

    in_net = cfg.get("feat") == "mfcc_net"  # log-mel in, the cepstra taken by the network
    net = NetworkConfig(
        task="audio",
        cell=cfg.get("cell", "gru"),
        classes=10,
        n_mels=input_width(cfg),
        norm="cepstral" if in_net else "global",
        cepstra=cfg.get("ncep", 13),
        hidden=cfg.get("hidden", 128),
        layers=cfg.get("layers", 1),
        dropout=cfg.get("dropout", 0.2),
        pool=cfg.get("pool", "none"),
        quiet_db=cfg.get("quiet_db", 0.0),
    )
    torch.manual_seed(cfg.get("seed", 0))
    model = RecurrentClassifier(net)
    if in_net:
        frames = frame_inputs(torch.from_numpy(frames), net).numpy()
    model.set_normalisation(torch.from_numpy(frames.mean(0)), torch.from_numpy(frames.std(0)))
    tc = TrainConfig(
        epochs=cfg.get("epochs", 15),
        lr=cfg.get("lr", 3e-3),
        batch_size=32,
        seed=cfg.get("seed", 0),
        label_smoothing=cfg.get("ls", 0.0),
        weight_decay=cfg.get("wd", 1e-5),
        feature_noise=cfg.get("fnoise", 0.0),
        ema_decay=cfg.get("ema", 0.0),
        frame_loss=cfg.get("frame_loss", 0.0),
    )
    started = time.perf_counter()
    hist = fit(
        model, train_x, [labels[i] for i in train_i], test_x, [labels[i] for i in test_i], tc, False, draw
    )
    predicted = predict_labels(model, test_x)
    if keep is not None:  # for --trajectory: the trained model and the held-out inputs
        keep.update(model=model, test_x=test_x)
    confusion = np.zeros((10, 10), int)
    for truth, guess in zip([labels[i] for i in test_i], predicted, strict=True):
        confusion[truth, guess] += 1
    with torch.no_grad():
        x, lengths = pad_batch(test_x)
        log_probs = torch.log_softmax(model(x, lengths), 1).numpy().round(5).tolist()
    return {
        "speaker": speaker,
        "accuracy": hist.epochs[-1]["test_accuracy"],
        "seconds": round(time.perf_counter() - started),
        "curve": [round(e["test_accuracy"], 3) for e in hist.epochs],
        "confusion": confusion.tolist(),
        "log_probs": log_probs,
        "config": {k: v for k, v in cfg.items() if not k.startswith("_")},
    }


def summary(path: Path) -> None:
    folds: dict[str, dict[str, float]] = defaultdict(dict)
    for line in path.read_text().splitlines():
        r = json.loads(line)
        folds[r["name"]][r["speaker"]] = r["accuracy"]
    speakers = sorted({s for d in folds.values() for s in d})
    print(f"| run | {' | '.join(speakers)} | mean |")
    print("|---|" + "---|" * (len(speakers) + 1))
    for name, d in folds.items():
        cells = [f"{d[s]:.3f}" if s in d else "–" for s in speakers]
        mean = f"{np.mean(list(d.values())):.3f}" + ("" if len(d) == len(speakers) else " (partial)")
        print(f"| {name} | {' | '.join(cells)} | {mean} |")


def ensemble(path: Path, names: list[str], data: Path) -> None:
    """Each fold's accuracy when the named runs' probabilities are averaged (an ensemble of those runs)."""
    runs: dict[tuple[str, str], list[list[float]]] = {}
    for line in path.read_text().splitlines():
        r = json.loads(line)
        if r["name"] in names:
            runs[(r["name"], r["speaker"])] = r["log_probs"]
    accuracies = {}
    for speaker in fsdd_speakers(data):
        if not all((name, speaker) in runs for name in names):
            continue
        truth = np.array([FSDD_LABELS.index(e.label) for e in fsdd_speaker_split(data, speaker, "test")])
        probs = np.mean([np.exp(np.array(runs[(name, speaker)])) for name in names], axis=0)
        accuracies[speaker] = float(np.mean(probs.argmax(1) == truth))
    cells = " | ".join(f"{s} {a:.3f}" for s, a in accuracies.items())
    print(f"ensemble of {', '.join(names)}: {cells} | mean {np.mean(list(accuracies.values())):.3f}")


def voices(data: Path) -> None:
    """What differs between the six voices: level, DC offset, word length, the lowest bands' level."""
    from rnnstream.features.audio import read_audio, to_mono

    print("| speaker | RMS dB | DC / RMS | word s | lowest 3 bands vs the mean band, dB |")
    print("|---|---|---|---|---|")
    for speaker in fsdd_speakers(data):
        rms, dc, length, low = [], [], [], []
        for e in fsdd_speaker_split(data, speaker, "test"):
            y, rate = read_audio(e.path)
            y = to_mono(y)
            rms.append(20 * np.log10(np.sqrt(np.mean(y**2)) + 1e-12))
            dc.append(abs(np.mean(y)) / (np.std(y) + 1e-12))
            length.append(len(y) / rate)
            spectrum = file_features(e.path, FEATURES).mean(0)
            low.append((spectrum[:3].mean() - spectrum.mean()) * 10 / np.log(10))  # natural log power -> dB
        print(
            f"| {speaker} | {np.mean(rms):.1f} | {np.mean(dc):.3f} | {np.mean(length):.2f} | {np.mean(low):.1f} |"
        )


def durations(data: Path) -> None:
    """Per speaker and digit: mean frames within 25 dB of the recording's loudest frame / all frames."""
    print("| speaker | " + " | ".join(FSDD_LABELS) + " |")
    print("|---|" + "---|" * len(FSDD_LABELS))
    for speaker in fsdd_speakers(data):
        cells = []
        for label in FSDD_LABELS:
            active, total = [], []
            for e in fsdd_speaker_split(data, speaker, "test"):
                if e.label == label:
                    level = level_db(file_features(e.path, FEATURES))
                    active.append(int((level > -25).sum()))
                    total.append(len(level))
            cells.append(f"{np.mean(active):.0f} / {np.mean(total):.0f}")
        print(f"| {speaker} | {' | '.join(cells)} |")


def confusions(path: Path, names: list[str], least: int = 5) -> None:
    """Each fold of the named runs: its accuracy and every confusion of at least ``least`` recordings."""
    for line in path.read_text().splitlines():
        r = json.loads(line)
        if r["name"] not in names:
            continue
        c = np.array(r["confusion"])
        pairs = sorted(((int(c[i, j]), i, j) for i in range(10) for j in range(10) if i != j), reverse=True)
        said = ", ".join(f"{WORDS[i]} as {WORDS[j]} {n}" for n, i, j in pairs if n >= least)
        print(f"{r['name']}  {r['speaker']:9s} {r['accuracy']:.3f}  {said}")


def trajectory(speaker: str, digit: str, cfg: dict[str, Any], loaded: Any) -> None:
    """Train ``speaker``'s fold, then print, every third frame of each of its recordings of ``digit``, the
    word the model would publish after that frame, its probability (%) and the frame's level (dB below the
    recording's loudest frame)."""
    audio, clean, examples = loaded
    keep: dict[str, Any] = {}
    rec = run_fold(speaker, cfg, audio, clean, examples, keep)
    print(f"fold {speaker}: accuracy {rec['accuracy']:.3f}")
    held_out = [i for i, e in enumerate(examples) if e.speaker == speaker]
    model = keep["model"].eval()
    for k, i in enumerate(held_out):
        if examples[i].label != digit:
            continue
        x, lengths = pad_batch([keep["test_x"][k]])
        with torch.no_grad():
            probs = torch.softmax(model.step_logits(x, lengths)[0], -1).numpy()
        level = level_db(clean[i])
        steps = []
        for t in range(0, len(probs), 3):
            best = int(probs[t].argmax())
            steps.append(f"{WORDS[best]} {100 * probs[t, best]:.0f}% {level[t]:.0f}dB")
        print(f"{examples[i].path.name}: " + " | ".join(steps))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/data/fsdd"), help="FSDD folder")
    p.add_argument("--name", help="run name (a row of the summary)")
    p.add_argument("--config", default="{}", help="JSON options (see above)")
    p.add_argument("--speakers", default="", help="comma-separated held-out speakers (default: all six)")
    p.add_argument("--out", type=Path, default=Path("runs/loso-sweep/results.jsonl"), help="JSON lines")
    p.add_argument("--cache", type=Path, default=Path("runs/loso-sweep"), help="feature cache folder")
    p.add_argument("--summary", action="store_true", help="print the table of --out and exit")
    p.add_argument("--voices", action="store_true", help="print how the six voices differ and exit")
    p.add_argument(
        "--ensemble", help="comma-separated run names: print the folds of their averaged probabilities"
    )
    p.add_argument("--durations", action="store_true", help="print each voice's word lengths and exit")
    p.add_argument(
        "--trajectory",
        metavar="SPEAKER:DIGIT",
        help="train SPEAKER's fold with --config and print what it says frame by frame on SPEAKER's DIGIT",
    )
    p.add_argument("--confusions", help="comma-separated run names: print each fold's largest confusions")
    args = p.parse_args()
    if args.summary:
        summary(args.out)
        return
    if args.voices:
        voices(args.data)
        return
    if args.durations:
        durations(args.data)
        return
    if args.confusions:
        confusions(args.out, args.confusions.split(","))
        return
    if args.ensemble:
        ensemble(args.out, args.ensemble.split(","), args.data)
        return
    if not args.name and not args.trajectory:
        p.error("--name is required")
    cfg = json.loads(args.config)
    overrides = dict(cfg.get("augment", {}))
    for key in ("speeds", "snr_db"):
        if key in overrides:
            overrides[key] = tuple(overrides[key])
    aug = AudioAugmentConfig(**{**AudioAugmentConfig.preset("v2").to_dict(), **overrides})
    torch.set_num_threads(1)
    audio, clean, examples = load(args.data, aug, args.cache)
    if cfg.get("synth"):  # extra training recordings (every fold trains on them; none is tested)
        variants, extra_clean, extra = synthetic(Path(cfg["synth"]), aug, args.cache)
        audio.variants = audio.variants + variants
        clean, examples = clean + extra_clean, examples + extra
    if args.trajectory:
        speaker, digit = args.trajectory.split(":")
        trajectory(speaker, digit, cfg, (audio, clean, examples))
        return
    speakers = [s for s in args.speakers.split(",") if s] or fsdd_speakers(args.data)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for speaker in speakers:
        rec = {"name": args.name, **run_fold(speaker, cfg, audio, clean, examples)}
        with args.out.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        print(f"{args.name}  {speaker:10s} {rec['accuracy']:.3f}  ({rec['seconds']} s)", flush=True)


if __name__ == "__main__":
    main()
