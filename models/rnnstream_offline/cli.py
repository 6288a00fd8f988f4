"""``rnnstream train`` and ``rnnstream export`` (offline side; torch is imported only when they run)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

DEFAULT_REPOSITORY = Path("models/repository")


def _need_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        typer.echo("error: training needs the 'train' extra (pip install 'rnnstream[train,audio]')", err=True)
        raise typer.Exit(2) from exc


def train(
    data: Annotated[
        Path,
        typer.Option("--data", "-d", help="FSDD folder (has recordings/) or SMS Spam Collection folder."),
    ],
    name: Annotated[
        str | None,
        typer.Option(help="Model name in the repository (default: fsdd-digits-CELL or sms-spam-CELL)."),
    ] = None,
    cell: Annotated[str, typer.Option(help="Recurrent cell: rnn, gru or lstm.")] = "lstm",
    layers: Annotated[int, typer.Option(min=1, help="Stacked recurrent layers.")] = 1,
    hidden: Annotated[int, typer.Option(min=1, help="Hidden size of each layer.")] = 128,
    epochs: Annotated[int | None, typer.Option(min=1, help="Epochs (default: 20 audio, 12 text).")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Sequences per training batch.")] = 32,
    lr: Annotated[float, typer.Option(help="Peak learning rate (one-cycle schedule).")] = 3e-3,
    seed: Annotated[
        int, typer.Option(help="Random seed; the same seed on the same machine gives the same model.")
    ] = 0,
    threads: Annotated[int, typer.Option(min=1, help="torch CPU threads.")] = 2,
    dropout: Annotated[
        float, typer.Option(min=0.0, max=0.9, help="Dropout between layers and before the head.")
    ] = 0.2,
    augment: Annotated[
        bool,
        typer.Option(
            help="Audio: augment training batches (speed perturbation, gain, equaliser, DC offset, noise at "
            "random SNR, time shift, SpecAugment masks; rnnstream_offline.augment)."
        ),
    ] = False,
    augment_preset: Annotated[
        str,
        typer.Option(
            help="With --augment: v3 (gain ±20 dB, random equaliser and DC offset; fsdd-digits-gru/1) or v2 "
            "(gain ±6 dB only; fsdd-digits-lstm/2)."
        ),
    ] = "v3",
    ensemble: Annotated[
        int,
        typer.Option(
            min=1,
            help="Audio: train this many networks (seeds SEED, SEED+1, ...) and publish them merged into one "
            "network that averages their logits (K x --hidden units, block-diagonal weights; it streams like "
            "any other).",
        ),
    ] = 1,
    norm: Annotated[
        str,
        typer.Option(
            help="Audio input normalisation in the graph: global (training mean/std), frame (each frame's "
            "own mean over the bands first: gain-invariant, no state), cepstral (cepstral coefficients "
            "1..--cepstra of each frame, as in MFCCs: gain-invariant, no state) or running (also the "
            "stream's own running mean, carried as state)."
        ),
    ] = "global",
    cepstra: Annotated[
        int,
        typer.Option(min=1, help="With --norm cepstral: how many cepstral coefficients the network reads."),
    ] = 13,
    pool: Annotated[
        str,
        typer.Option(
            help="none; mean: the head also reads the running mean of the top layer's outputs (carried as "
            "state), not only the last output; gated: the prediction is the mean of every step's logits so "
            "far, each weighted by a learned gate in (0, 1) (carried as state), so steps the network learns "
            "to distrust, such as the quiet tail after a word, barely move it."
        ),
    ] = "none",
    quiet_db: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Audio, --pool gated: frames more than this many dB below the stream's running mean power "
            "do not move the prediction (a fixed rule on top of the learned gate; 0: off).",
        ),
    ] = 0.0,
    extra_audio: Annotated[
        Path | None,
        typer.Option(
            help="Audio: a folder of extra training recordings named like FSDD's ({digit}_{voice}_{index}.wav), "
            "added to the training split only: e.g. the synthetic voices of `rnnstream synth-digits`."
        ),
    ] = None,
    hash_buckets: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Text: vocabulary v2 (shape classes for numbers, currency, emoji, punctuation; unseen words "
            "hashed into this many buckets). Default: v1 (unseen words are <unk>).",
        ),
    ] = None,
    token_dropout: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Text: share of known tokens shown as unseen while training."),
    ] = 0.0,
    label_smoothing: Annotated[
        float, typer.Option(min=0.0, max=0.5, help="Label smoothing of the training loss (0: none).")
    ] = 0.0,
    weight_decay: Annotated[float, typer.Option(min=0.0, help="AdamW weight decay.")] = 1e-5,
    ema_decay: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=0.9999,
            help="> 0: keep an exponential moving average of the weights with this decay per batch, "
            "evaluate with it and publish it (0: off).",
        ),
    ] = 0.0,
    spam_weight: Annotated[
        float, typer.Option(min=0.0, help="Text: loss weight of the spam class (ham is 1).")
    ] = 1.0,
    loso: Annotated[
        bool,
        typer.Option(
            "--loso",
            help="Audio: train leave-one-speaker-out folds instead of one model (into --run-dir, default "
            "runs/NAME-loso; nothing is published); score them with `rnnstream eval RUN_DIR/folds --loso`.",
        ),
    ] = False,
    fold: Annotated[
        list[str] | None, typer.Option(help="With --loso: only these held-out speakers (repeatable).")
    ] = None,
    run_dir: Annotated[
        Path | None, typer.Option(help="Where checkpoint.pt and report.json go (default: runs/NAME).")
    ] = None,
    publish: Annotated[
        bool, typer.Option(help="Export, verify and publish into the repository after training.")
    ] = True,
    repository: Annotated[
        Path, typer.Option("--repository", "-r", help="Model repository.")
    ] = DEFAULT_REPOSITORY,
    version: Annotated[str | None, typer.Option(help="Version to publish as (default: next free).")] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing version.")] = False,
    loso_report: Annotated[
        Path | None,
        typer.Option(help="Model card: JSON of `rnnstream eval FOLDS --loso --json` for this recipe."),
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Train an RNN/GRU/LSTM classifier on FSDD (spoken digits) or the SMS Spam Collection, then export it to
    ONNX with explicit state, verify it against PyTorch and chunked-vs-whole, and publish it."""
    _need_torch()
    from rnnstream.datasets import detect
    from rnnstream_offline.augment import AudioAugmentConfig
    from rnnstream_offline.pipeline import TrainRequest, export_checkpoint, train_model
    from rnnstream_offline.training import TrainConfig

    if cell not in ("rnn", "gru", "lstm"):
        raise typer.BadParameter("cell must be rnn, gru or lstm", param_hint="--cell")
    if pool not in ("none", "mean", "gated"):
        raise typer.BadParameter("pool must be none, mean or gated", param_hint="--pool")
    if norm not in ("global", "running", "frame", "cepstral"):
        raise typer.BadParameter("norm must be global, frame, cepstral or running", param_hint="--norm")
    if augment_preset not in ("v2", "v3"):
        raise typer.BadParameter("augment preset must be v2 or v3", param_hint="--augment-preset")
    task: Literal["audio", "text"] = detect(data)
    if quiet_db > 0 and (pool != "gated" or task != "audio"):
        raise typer.BadParameter("needs an audio model with --pool gated", param_hint="--quiet-db")
    if loso and task != "audio":
        raise typer.BadParameter("leave-one-speaker-out is for FSDD (audio)", param_hint="--loso")
    name = name or (f"fsdd-digits-{cell}" if task == "audio" else f"sms-spam-{cell}")
    cfg = TrainConfig(
        epochs=epochs or (20 if task == "audio" else 12),
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        class_weights=(1.0, spam_weight) if task == "text" and spam_weight != 1.0 else None,
        label_smoothing=label_smoothing,
        weight_decay=weight_decay,
        ema_decay=ema_decay,
    )
    req = TrainRequest(
        task=task,
        data_dir=data,
        name=name,
        cell=cell,  # type: ignore[arg-type]
        layers=layers,
        hidden=hidden,
        dropout=dropout,
        train=cfg,
        threads=threads,
        norm=norm,  # type: ignore[arg-type]
        cepstra=cepstra,
        ensemble=ensemble,
        pool=pool,  # type: ignore[arg-type]
        quiet_db=quiet_db,
        extra_audio=extra_audio if task == "audio" else None,
        augment=AudioAugmentConfig.preset(augment_preset) if augment and task == "audio" else None,
        hash_buckets=hash_buckets if task == "text" else None,
        token_dropout=token_dropout if task == "text" else 0.0,
    )
    if loso:
        from rnnstream.cli.models_cmd import _evaluate_loso
        from rnnstream_offline.loso import train_loso

        folds = train_loso(req, run_dir or Path("runs") / f"{name}-loso", fold or (), progress=not quiet)
        typer.echo(f"fold models: {folds}")
        _evaluate_loso(folds, data, as_json=False)
        return
    ck = train_model(req, run_dir or Path("runs") / name, progress=not quiet)
    typer.echo(f"checkpoint: {ck}")
    if publish:
        command = shlex.join(["rnnstream", *sys.argv[1:]]) if sys.argv[1:2] == ["train"] else ""
        folder = export_checkpoint(
            ck,
            repository,
            version=version,
            force=force,
            loso_report=loso_report,
            reproduce=[command] if command else [],
        )
        typer.echo(f"published: {folder}")


def export(
    checkpoint: Annotated[Path, typer.Argument(help="checkpoint.pt written by `rnnstream train`.")],
    repository: Annotated[
        Path, typer.Option("--repository", "-r", help="Model repository.")
    ] = DEFAULT_REPOSITORY,
    name: Annotated[
        str | None, typer.Option(help="Publish under this name (default: the checkpoint's).")
    ] = None,
    version: Annotated[str | None, typer.Option(help="Version to publish as (default: next free).")] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing version.")] = False,
    loso_report: Annotated[
        Path | None,
        typer.Option(help="Model card: JSON of `rnnstream eval FOLDS --loso --json` for this recipe."),
    ] = None,
    reproduce: Annotated[
        list[str] | None, typer.Option(help="Model card: a command that rebuilds or scores it (repeatable).")
    ] = None,
) -> None:
    """Export a checkpoint to ONNX, verify it (ONNX Runtime vs PyTorch, chunked vs whole, padded batch vs
    alone; all within 1e-5) and publish it. A model that fails verification is not published."""
    _need_torch()
    from rnnstream_offline.pipeline import export_checkpoint
    from rnnstream_offline.verify import VerificationError

    try:
        folder = export_checkpoint(
            checkpoint,
            repository,
            version=version,
            force=force,
            name=name,
            loso_report=loso_report,
            reproduce=reproduce or (),
        )
    except (VerificationError, FileExistsError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"published: {folder}")


def synth_digits(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the recordings into.")] = Path(
        "runs/synth-digits"
    ),
    seed: Annotated[int, typer.Option(help="Seed of the speaking rates drawn per recording.")] = 0,
) -> None:
    """Synthesise the ten digit words in 168 voices with espeak-ng (7 accents x 12 variants x 2 pitches),
    as FSDD-named recordings for `rnnstream train --extra-audio` (needs the espeak-ng program)."""
    from rnnstream_offline.synth import SynthesiserMissing, synthesise_digits

    try:
        report = synthesise_digits(out, seed=seed)
    except SynthesiserMissing as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"{report.files} recordings of {report.voices} voices in {report.out_dir} ({report.version})")
