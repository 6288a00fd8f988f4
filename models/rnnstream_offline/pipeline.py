"""train → checkpoint → export (build ONNX, verify, publish): the steps behind ``rnnstream train/export``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from tqdm import tqdm

from rnnstream.datasets import FSDD_LABELS, SMS_LABELS, AudioExample, fsdd_speaker_split, fsdd_split
from rnnstream.evaluation import classification_metrics
from rnnstream.features.text import Vocabulary
from rnnstream.repository.manifest import LogMelConfig, TextConfig
from rnnstream_offline.augment import AudioAugmentConfig, AugmentedAudio
from rnnstream_offline.cards import build_card, load_loso_report
from rnnstream_offline.data import prepare_audio_examples, prepare_text, token_dropout
from rnnstream_offline.networks import Cell, NetworkConfig, RecurrentClassifier, frame_inputs, merge_ensemble
from rnnstream_offline.onnx_graph import build_onnx
from rnnstream_offline.publish import publish
from rnnstream_offline.synth import extra_examples, recorded_synthesiser
from rnnstream_offline.training import Augment, History, TrainConfig, fit, predict_labels
from rnnstream_offline.verify import verify_export

CHECKPOINT_FORMAT = "rnnstream-checkpoint-v1"
FSDD_ATTRIBUTION = (
    '"Free Spoken Digit Dataset (FSDD)" by Zohar Jackson (Jakobovski) and contributors, '
    "https://github.com/Jakobovski/free-spoken-digit-dataset, licensed under CC BY-SA 4.0"
)
SMS_ATTRIBUTION = (
    "Almeida, T. & Hidalgo, J. (2011). SMS Spam Collection [Dataset]. UCI Machine Learning Repository. "
    "https://doi.org/10.24432/C5CC84. Licensed CC BY 4.0"
)


@dataclass(frozen=True)
class TrainRequest:
    task: Literal["audio", "text"]
    data_dir: Path
    name: str
    cell: Cell = "lstm"
    layers: int = 1
    hidden: int = 128
    dropout: float = 0.2
    train: TrainConfig = field(default_factory=TrainConfig)
    threads: int = 2
    norm: Literal["global", "running", "frame", "cepstral"] = "global"  # audio: input (see NetworkConfig)
    cepstra: int = 13  # audio, norm="cepstral": cepstral coefficients 1..cepstra
    # mean: the head also reads the running mean of the outputs; gated: the prediction is the gate-weighted
    # running mean of the per-step logits (NetworkConfig.pool)
    pool: Literal["none", "mean", "gated"] = "none"
    quiet_db: float = 0.0  # audio, pool="gated": frames this far below the running mean power are gated out
    augment: AudioAugmentConfig | None = None  # audio: training-time augmentation (None: as recorded)
    held_out_speaker: str | None = None  # audio: a leave-one-speaker-out fold instead of the official split
    hash_buckets: int | None = None  # text: vocabulary v2 with shape classes and this many hash buckets
    token_dropout: float = 0.0  # text: share of known tokens replaced by their fallback id while training
    embed_dim: int = 64  # text
    # audio: train this many members (seeds seed, seed+1, ...) and merge them into one network
    ensemble: int = 1
    # audio: a folder of extra training recordings named like FSDD's (rnnstream_offline.synth), added to the
    # training split only (never tested)
    extra_audio: Path | None = None


def train_model(req: TrainRequest, run_dir: Path, progress: bool = True) -> Path:
    """Train on the dataset's train split, report on its test split, write ``checkpoint.pt`` and
    ``report.json`` into ``run_dir``; returns the checkpoint path."""
    torch.set_num_threads(req.threads)
    features: LogMelConfig | None = None
    vocab: Vocabulary | None = None
    augment: Augment | None = None
    speakers: tuple[list[str], list[str]] | None = None
    extra: list[AudioExample] = []
    if req.task == "audio":
        features = LogMelConfig()
        if req.held_out_speaker is None:
            train_ex, test_ex = fsdd_split(req.data_dir, "train"), fsdd_split(req.data_dir, "test")
            split = "official: index 0-4 test, 5-49 train (all six speakers in both)"
        else:
            train_ex = fsdd_speaker_split(req.data_dir, req.held_out_speaker, "train")
            test_ex = fsdd_speaker_split(req.data_dir, req.held_out_speaker, "test")
            split = (
                f"leave-one-speaker-out: test = every recording of {req.held_out_speaker}, train = the others"
            )
        extra = extra_examples(req.extra_audio) if req.extra_audio else []
        speakers = (sorted({e.speaker for e in train_ex}), sorted({e.speaker for e in test_ex}))
        train_ex = train_ex + extra
        train = prepare_audio_examples(train_ex, features, progress, "features (train)")
        test = prepare_audio_examples(test_ex, features, progress, "features (test)")
        labels, positive = FSDD_LABELS, None
        net = NetworkConfig(
            task="audio",
            cell=req.cell,
            classes=10,
            hidden=req.hidden,
            layers=req.layers,
            dropout=req.dropout,
            n_mels=features.n_mels,
            norm=req.norm,
            cepstra=req.cepstra,
            pool=req.pool,
            quiet_db=req.quiet_db,
        )
    else:
        train, vocab = prepare_text(req.data_dir, "train", None, hash_buckets=req.hash_buckets)
        test, _ = prepare_text(req.data_dir, "test", vocab)
        labels, positive = SMS_LABELS, "spam"
        net = NetworkConfig(
            task="text",
            cell=req.cell,
            classes=2,
            hidden=req.hidden,
            layers=req.layers,
            dropout=req.dropout,
            vocab_size=len(vocab),
            embed_dim=req.embed_dim,
            pool=req.pool,
        )
        if req.token_dropout > 0:
            augment = token_dropout(train, req.token_dropout)
    if req.ensemble > 1 and req.task != "audio":
        raise ValueError("ensembles are for audio networks")
    stats: tuple[torch.Tensor, torch.Tensor] | None = None
    if features is not None:
        frames = np.concatenate(train.x)
        inputs = frame_inputs(torch.from_numpy(frames), net).numpy()
        stats = torch.from_numpy(inputs.mean(0)), torch.from_numpy(inputs.std(0))
        if req.augment is not None:  # masked cells get the training mean of the log-mel frames
            fill = frames.mean(0)
            augment = AugmentedAudio([e.path for e in train_ex], features, req.augment, fill=fill).draw
    members, history = [], History()
    for i in range(req.ensemble):  # member i: seed + i (the only member of a plain run: seed)
        seed = req.train.seed + i
        if progress and req.ensemble > 1:
            tqdm.write(f"ensemble member {i + 1}/{req.ensemble} (seed {seed})")
        torch.manual_seed(seed)
        member = RecurrentClassifier(net)
        if stats is not None:
            member.set_normalisation(*stats)
        run = fit(member, train.x, train.y, test.x, test.y, replace(req.train, seed=seed), progress, augment)
        members.append(member)
        history.duration_s += run.duration_s
        history.epochs += [{**e, "member": i} for e in run.epochs] if req.ensemble > 1 else run.epochs
    model = merge_ensemble(members) if len(members) > 1 else members[0]
    net = model.cfg  # a merged ensemble has K x hidden units
    predicted = predict_labels(model, test.x)
    metrics = classification_metrics(test.y, predicted, labels, positive)
    training_info = {
        "dataset": "Free Spoken Digit Dataset v1.0.10" if req.task == "audio" else "SMS Spam Collection v.1",
        "attribution": FSDD_ATTRIBUTION if req.task == "audio" else SMS_ATTRIBUTION,
        "license": "CC BY-SA 4.0" if req.task == "audio" else "CC BY 4.0",
        "split": split if req.task == "audio" else "split_suggested.tsv (80/20)",
        "train_speakers": speakers[0] if speakers else None,
        "test_speakers": speakers[1] if speakers else None,
        "n_train": len(train.x),
        "extra_training_audio": (
            {
                "folder": str(req.extra_audio),
                "recordings": len(extra),
                "voices": len({e.speaker for e in extra}),
                "synthesiser": recorded_synthesiser(req.extra_audio),  # None: not made by synth-digits
                "note": "synthetic spoken digits (rnnstream_offline.synth), in the training split only",
            }
            if extra
            else None
        ),
        "n_test": len(test.x),
        "epochs": req.train.epochs,
        "seed": req.train.seed,
        "duration_s": round(history.duration_s, 1),
        "torch_version": torch.__version__,
        "metrics": {
            k: float(v) for k, v in metrics.items() if k in ("accuracy", "precision", "recall", "f1")
        },
    }
    report = {
        "name": req.name,
        "network": net.to_dict(),
        "train": asdict(req.train),
        "augment": req.augment.to_dict() if req.augment else None,
        "ensemble": {"members": req.ensemble, "member_hidden": req.hidden} if req.ensemble > 1 else None,
        "history": history.epochs,
        "test": metrics,
        "training": training_info,
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    rng = np.random.default_rng(req.train.seed)
    picks = rng.choice(len(test.x), size=min(24, len(test.x)), replace=False)
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "name": req.name,
        "network": net.to_dict(),
        "state_dict": model.state_dict(),
        "labels": labels,
        "positive_label": positive,
        "features": features.model_dump() if features else None,
        "vocabulary": vocab.tokens if vocab else None,
        "hash_buckets": vocab.hash_buckets if vocab else None,
        "training": training_info,
        "report": report,
        "verification_inputs": [test.x[int(i)] for i in picks],
    }
    path = run_dir / "checkpoint.pt"
    torch.save(checkpoint, path)
    return path


def export_checkpoint(
    checkpoint_path: Path,
    repository: Path,
    *,
    version: str | None = None,
    force: bool = False,
    name: str | None = None,
    loso_report: Path | None = None,
    reproduce: Sequence[str] = (),
) -> Path:
    """Build the ONNX graph, verify it, and publish it with a model card (``cards.build_card``: the
    checkpoint's test figures, the leave-one-speaker-out figures of ``loso_report`` when given, the
    ``reproduce`` commands); returns the model folder."""
    ck: dict[str, Any] = torch.load(checkpoint_path, weights_only=False)
    if ck.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{checkpoint_path} is not an rnnstream checkpoint")
    net = NetworkConfig(**ck["network"])
    model = RecurrentClassifier(net)
    model.load_state_dict(ck["state_dict"])
    model.eval()
    proto = build_onnx(model)
    verification = verify_export(model, proto, ck["verification_inputs"])
    state_shapes = {s: (net.layers, net.hidden) for s in model.state_names()}
    state_shapes.update({s: (1, width) for s, width in model.extra_states().items()})
    x_spec = (
        {"name": "x", "role": "features", "dtype": "float32", "shape": ["batch", "time", net.n_mels]}
        if net.task == "audio"
        else {"name": "x", "role": "tokens", "dtype": "int64", "shape": ["batch", "time"]}
    )
    fields: dict[str, Any] = {
        "name": name or ck["name"],
        "task": net.task,
        "description": f"{net.cell.upper()} x{net.layers}, hidden {net.hidden}, trained on {ck['training']['dataset']}",
        "labels": ck["labels"],
        "positive_label": ck["positive_label"],
        "cell": net.cell,
        "layers": net.layers,
        "hidden_size": net.hidden,
        "inputs": [x_spec, {"name": "lengths", "role": "lengths", "dtype": "int32", "shape": ["batch"]}]
        + [
            {"name": s, "role": "state", "dtype": "float32", "shape": [n, "batch", w]}
            for s, (n, w) in state_shapes.items()
        ],
        "outputs": [
            {"name": "logits", "role": "logits", "dtype": "float32", "shape": ["batch", "time", net.classes]}
        ]
        + [
            {"name": f"{s}_out", "role": "state", "dtype": "float32", "shape": [n, "batch", w]}
            for s, (n, w) in state_shapes.items()
        ],
        "state": [
            {"input": s, "output": f"{s}_out", "layers": n, "hidden": w} for s, (n, w) in state_shapes.items()
        ],
        "features": ck["features"],
        "training": ck["training"],
        "verification": verification.model_dump(),
        "card": build_card(ck, loso=load_loso_report(loso_report), reproduce=reproduce),
    }
    extra = {}
    if ck["vocabulary"] is not None:
        vocab = Vocabulary(ck["vocabulary"], hash_buckets=ck.get("hash_buckets"))
        fields["text"] = TextConfig(vocabulary_size=len(vocab)).model_dump()
        extra["vocab.json"] = lambda d: vocab.save(d / "vocab.json")
    report = ck["report"]
    extra["report.json"] = lambda d: (d / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return publish(
        repository,
        model_bytes=proto.SerializeToString(),
        manifest_fields=fields,
        extra_files=extra,
        version=version,
        force=force,
    )
