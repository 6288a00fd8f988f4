"""``rnnstream predict``, ``rnnstream eval`` and ``rnnstream models``: local use of published models."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from rnnstream.core.batching import pad_chunks
from rnnstream.errors import InputError, RnnstreamError
from rnnstream.repository.reader import ModelRepository

DEFAULT_REPOSITORY = Path("models/repository")
err = Console(stderr=True)

ModelArg = Annotated[
    str,
    typer.Argument(
        help="A published model folder (models/repository/NAME/VERSION), or NAME or NAME:VERSION in --repository."
    ),
]
RepoOpt = Annotated[
    Path, typer.Option("--repository", "-r", help="Model repository used to resolve NAME[:VERSION].")
]


def resolve_model_dir(model: str, repository: Path) -> Path:
    """A folder path as given, else NAME[:VERSION] looked up in the repository."""
    path = Path(model)
    if (path / "manifest.json").is_file():
        return path
    name, _, version = model.partition(":")
    return ModelRepository(repository).resolve(name, version or None).path


def _load(model: str, repository: Path):  # type: ignore[no-untyped-def]
    from rnnstream.runtime.session import OnnxModel

    try:
        return OnnxModel(resolve_model_dir(model, repository))
    except RnnstreamError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc


def predict(
    model: ModelArg,
    inputs: Annotated[
        list[str] | None, typer.Argument(help="Audio files (audio models). Text models read --text or stdin.")
    ] = None,
    chunk_frames: Annotated[
        int,
        typer.Option(
            "--chunk-frames",
            "-n",
            min=0,
            help="Feed N frames/tokens per call with carried state; 0 = whole sequence at once.",
        ),
    ] = 0,
    text: Annotated[
        list[str] | None, typer.Option("--text", "-t", help="Text to classify (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per input and line.")] = False,
    repository: RepoOpt = DEFAULT_REPOSITORY,
) -> None:
    """Run a model locally through ONNX Runtime and print, per input and in input order, the final label and the
    score of every class. This is the offline reference the streaming service reproduces."""
    from rnnstream.runtime.predict import predict_sequence

    onnx_model = _load(model, repository)
    m = onnx_model.manifest
    items: list[tuple[str, object]] = []
    if m.task == "audio":
        if text:
            err.print("[red]error:[/red] --text is for text models; this is an audio model")
            raise typer.Exit(2)
        items = [(p, p) for p in inputs or []]
        if not items:
            err.print("[red]error:[/red] give one or more audio files")
            raise typer.Exit(2)
    else:
        if inputs:
            err.print(
                "[red]error:[/red] a text model takes --text STRING or lines on stdin, not file arguments"
            )
            raise typer.Exit(2)
        lines = list(text) if text else [line.rstrip("\n") for line in sys.stdin]
        items = [(t, t) for t in lines]
    failures = 0
    table = Table("input", "label", "score", "steps", "all scores", title=f"{m.name} v{m.version}")
    for shown, item in items:
        try:
            x = _model_input(onnx_model, item)
            pred = predict_sequence(onnx_model, x, chunk_frames)
        except InputError as exc:
            failures += 1
            if as_json:
                print(json.dumps({"input": shown, "error": str(exc)}), flush=True)
            else:
                err.print(f"[red]error:[/red] {shown}: {exc}")
            continue
        if as_json:
            doc = {
                "input": shown,
                "model": m.name,
                "version": m.version,
                "label": pred.label,
                "scores": pred.scores,
                "steps": pred.steps,
                "chunks": pred.chunks,
            }
            print(json.dumps(doc), flush=True)
        else:
            scores = " ".join(f"{k}:{v:.3f}" for k, v in pred.scores.items())
            table.add_row(shown[:60], pred.label, f"{pred.scores[pred.label]:.4f}", str(pred.steps), scores)
    if not as_json and table.row_count:
        Console().print(table)
    if failures:
        raise typer.Exit(1)


def _model_input(onnx_model, item: object) -> np.ndarray:  # type: ignore[no-untyped-def,type-arg]
    m = onnx_model.manifest
    if m.task == "audio":
        from rnnstream.features.audio import file_features

        assert m.features is not None
        return file_features(str(item), m.features)
    from rnnstream.features.text import tokenize

    tokens = tokenize(str(item))
    if not tokens:
        raise InputError("the text has no tokens")
    return onnx_model.encode(tokens)  # type: ignore[no-any-return]


def evaluate(
    model: ModelArg,
    data: Annotated[
        Path,
        typer.Option("--data", "-d", help="Dataset folder: FSDD (recordings/) or the SMS Spam Collection."),
    ],
    split: Annotated[str, typer.Option(help="Split to score: test or train.")] = "test",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    repository: RepoOpt = DEFAULT_REPOSITORY,
) -> None:
    """Score a published model on a dataset split through ONNX Runtime: accuracy, n, confusion matrix, and for
    text models precision/recall/F1 of the positive class."""
    from rnnstream import datasets
    from rnnstream.evaluation import classification_metrics

    if split not in ("train", "test"):
        err.print("[red]error:[/red] --split is train or test")
        raise typer.Exit(2)
    onnx_model = _load(model, repository)
    m = onnx_model.manifest
    try:
        if datasets.detect(data) != m.task:
            err.print(f"[red]error:[/red] {data} is not a dataset for a {m.task} model")
            raise typer.Exit(2)
        if m.task == "audio":
            examples: list[tuple[object, str]] = [(e.path, e.label) for e in datasets.fsdd_split(data, split)]  # type: ignore[arg-type]
        else:
            examples = [(e.text, e.label) for e in datasets.sms_split(data, split)]  # type: ignore[arg-type]
    except RnnstreamError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    truth, predicted, skipped = [], [], 0
    from rich.progress import track

    xs = []
    for item, label in track(examples, description="features", console=err, disable=as_json):
        try:
            xs.append(_model_input(onnx_model, item))
        except InputError:
            skipped += 1
            continue
        truth.append(m.labels.index(label))
    for i in range(0, len(xs), 64):
        batch = xs[i : i + 64]
        padded, lengths = pad_chunks(batch, 0)
        out = onnx_model.run(padded, lengths, onnx_model.zero_state(len(batch)))
        predicted.extend(out.last_scores(lengths).argmax(axis=1).tolist())
    metrics = classification_metrics(truth, predicted, m.labels, m.positive_label)
    metrics.update(model=m.name, version=m.version, split=split, skipped=skipped)
    if as_json:
        print(json.dumps(metrics))
        return
    console = Console()
    console.print(
        f"[bold]{m.name}[/bold] v{m.version} on {data} ({split}): n={metrics['n']}  "
        f"accuracy={metrics['accuracy']:.4f}"
        + (f"  f1({m.positive_label})={metrics['f1']:.4f}" if m.positive_label else "")
    )
    cm = Table("true \\ predicted", *m.labels, title="confusion matrix")
    for lab, row in zip(m.labels, metrics["confusion_matrix"], strict=True):  # type: ignore[call-overload]
        cm.add_row(lab, *(str(v) for v in row))
    console.print(cm)


def list_models(repository: RepoOpt = DEFAULT_REPOSITORY) -> None:
    """List the models published in the repository (latest version first)."""
    from rnnstream.repository.reader import read_manifest

    repo = ModelRepository(repository)
    table = Table("name", "versions", "task", "cell", "labels", "test metrics")
    try:
        refs = repo.latest()
    except RnnstreamError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    for ref in refs:
        man = read_manifest(ref.path)
        metrics = man.training.metrics if man.training else {}
        table.add_row(
            ref.name,
            ", ".join(repo.versions(ref.name)),
            man.task,
            f"{man.cell} x{man.layers}/{man.hidden_size}",
            str(len(man.labels)),
            " ".join(f"{k}={v:.3f}" for k, v in metrics.items()),
        )
    Console().print(table)
