"""``rnnstream train`` and ``rnnstream export`` (offline side; torch is imported only when they run)."""

from __future__ import annotations

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
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Train an RNN/GRU/LSTM classifier on FSDD (spoken digits) or the SMS Spam Collection, then export it to
    ONNX with explicit state, verify it against PyTorch and chunked-vs-whole, and publish it."""
    _need_torch()
    from rnnstream.datasets import detect
    from rnnstream_offline.pipeline import TrainRequest, export_checkpoint, train_model
    from rnnstream_offline.training import TrainConfig

    if cell not in ("rnn", "gru", "lstm"):
        raise typer.BadParameter("cell must be rnn, gru or lstm", param_hint="--cell")
    task: Literal["audio", "text"] = detect(data)
    name = name or (f"fsdd-digits-{cell}" if task == "audio" else f"sms-spam-{cell}")
    cfg = TrainConfig(
        epochs=epochs or (20 if task == "audio" else 12), batch_size=batch_size, lr=lr, seed=seed
    )
    req = TrainRequest(
        task=task,
        data_dir=data,
        name=name,
        cell=cell,
        layers=layers,
        hidden=hidden,
        train=cfg,  # type: ignore[arg-type]
        threads=threads,
    )
    ck = train_model(req, run_dir or Path("runs") / name, progress=not quiet)
    typer.echo(f"checkpoint: {ck}")
    if publish:
        folder = export_checkpoint(ck, repository, version=version, force=force)
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
) -> None:
    """Export a checkpoint to ONNX, verify it (ONNX Runtime vs PyTorch, chunked vs whole, padded batch vs
    alone; all within 1e-5) and publish it. A model that fails verification is not published."""
    _need_torch()
    from rnnstream_offline.pipeline import export_checkpoint
    from rnnstream_offline.verify import VerificationError

    try:
        folder = export_checkpoint(checkpoint, repository, version=version, force=force, name=name)
    except (VerificationError, FileExistsError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"published: {folder}")
