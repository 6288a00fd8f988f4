"""``rnnstream predict``, ``rnnstream eval`` and ``rnnstream models``: local use of published models."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from rnnstream.errors import InputError, RnnstreamError
from rnnstream.repository.reader import DEFAULT_REPOSITORY, ModelRepository, resolve_model_folder

if TYPE_CHECKING:
    from rnnstream.datasets import Split

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


def _load(model: str, repository: Path):  # type: ignore[no-untyped-def]
    from rnnstream.runtime.session import OnnxModel

    try:
        return OnnxModel(resolve_model_folder(model, repository))
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
    from rnnstream.runtime.scoring import model_input

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
            x = model_input(onnx_model, item)
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


def evaluate(
    model: ModelArg,
    data: Annotated[
        Path,
        typer.Option("--data", "-d", help="Dataset folder: FSDD (recordings/) or the SMS Spam Collection."),
    ],
    split: Annotated[str, typer.Option(help="Split to score: test or train.")] = "test",
    loso: Annotated[
        bool,
        typer.Option(
            "--loso",
            help="Leave-one-speaker-out (FSDD): MODEL is a folder of fold models (written by `rnnstream train "
            "--loso`); each is scored on every recording of the speaker it was not trained on; prints "
            "per-speaker and mean accuracy.",
        ),
    ] = False,
    continuous: Annotated[
        bool,
        typer.Option(
            "--continuous",
            help="Endpointing (FSDD, audio models): one continuous stream per speaker of their digits in --split "
            "with 0.3-2 s of silence and white noise, streamed as 20 ms PCM packets with segment=vad through "
            "the worker's own step; prints finals per word, boundaries within 100 ms, per-utterance accuracy.",
        ),
    ] = False,
    seed: Annotated[int, typer.Option(help="--continuous: seed of the word order, pauses and noise.")] = 0,
    snr_db: Annotated[
        float, typer.Option("--snr-db", help="--continuous: noise level (dB below speech).")
    ] = 20.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    repository: RepoOpt = DEFAULT_REPOSITORY,
) -> None:
    """Score a published model on a dataset split through ONNX Runtime: accuracy, n, confusion matrix, and for
    text models precision/recall/F1 of the positive class. With --loso, score leave-one-speaker-out folds;
    with --continuous, score endpointing on continuous streams."""
    from rnnstream import datasets
    from rnnstream.evaluation import classification_metrics
    from rnnstream.runtime.scoring import score_items

    if loso:
        _evaluate_loso(Path(model), data, as_json)
        return
    if split not in ("train", "test"):
        err.print("[red]error:[/red] --split is train or test")
        raise typer.Exit(2)
    if continuous:
        _evaluate_continuous(model, data, split, seed, snr_db, as_json, repository)  # type: ignore[arg-type]
        return
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
    truth, predicted, skipped = score_items(onnx_model, examples, progress=not as_json)
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


def _evaluate_continuous(
    model: str, data: Path, split: Split, seed: int, snr_db: float, as_json: bool, repository: Path
) -> None:
    from rnnstream.features.continuous import continuous_report

    try:
        folder = resolve_model_folder(model, repository)
        report = continuous_report(folder, data, split=split, seed=seed, snr_db=snr_db, progress=not as_json)
    except RnnstreamError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    if as_json:
        print(json.dumps(report))
        return
    table = Table(
        "speaker", "words", "finals", "found", "boundaries ±100 ms", "accuracy", title="continuous streams"
    )
    rows = [*report["speakers"].items(), ("all", report)]  # type: ignore[attr-defined]
    for name, row in rows:
        table.add_row(
            name,
            *(str(row[k]) for k in ("words", "finals", "matched")),
            f"{row['boundary_rate']:.3f}",
            f"{row['accuracy']:.3f}",
            style="bold" if name == "all" else None,
        )
    console = Console()
    console.print(table)
    console.print(
        f"{report['model']} v{report['version']}: per-utterance accuracy {report['accuracy']:.4f} against "
        f"{report['isolated_accuracy']:.4f} on the same recordings one at a time ({split} split); "
        f"seed {seed}, SNR {snr_db:g} dB"
    )


def loso_report(folds_dir: Path, data: Path, progress: bool = False) -> dict[str, object]:
    """Score every fold model in ``folds_dir`` (a model repository) on the FSDD recordings of the speaker its
    manifest names as its test speaker: per-fold figures, mean and minimum accuracy."""
    from rnnstream import datasets
    from rnnstream.errors import ConfigurationError
    from rnnstream.evaluation import classification_metrics
    from rnnstream.runtime.scoring import score_items
    from rnnstream.runtime.session import OnnxModel

    folds = []
    for ref in ModelRepository(folds_dir).latest():
        onnx_model = OnnxModel(ref.path)
        training = onnx_model.manifest.training
        if onnx_model.manifest.task != "audio" or training is None or not training.test_speakers:
            raise ConfigurationError(f"{ref.path} is not a leave-one-speaker-out fold (no test speaker)")
        if len(training.test_speakers) != 1:
            raise ConfigurationError(f"{ref.path} was tested on {training.test_speakers}, not on one speaker")
        speaker = training.test_speakers[0]
        if speaker in (training.train_speakers or []):
            raise ConfigurationError(f"{ref.path} was trained on its own test speaker {speaker!r}")
        items: list[tuple[object, str]] = [
            (e.path, e.label) for e in datasets.fsdd_speaker_split(data, speaker, "test")
        ]
        truth, predicted, skipped = score_items(onnx_model, items, progress)
        metrics = classification_metrics(truth, predicted, onnx_model.labels)
        folds.append(
            {
                "speaker": speaker,
                "model": f"{ref.name}:{ref.version}",
                "train_speakers": training.train_speakers,
                "n": metrics["n"],
                "skipped": skipped,
                "accuracy": metrics["accuracy"],
                "confusion_matrix": metrics["confusion_matrix"],
            }
        )
    if not folds:
        raise ConfigurationError(f"no fold models in {folds_dir}")
    folds.sort(key=lambda f: str(f["speaker"]))
    accuracies = [float(f["accuracy"]) for f in folds]  # type: ignore[arg-type]
    return {
        "mode": "leave-one-speaker-out",
        "folds": folds,
        "speakers": len(folds),
        "mean_accuracy": float(np.mean(accuracies)),
        "min_accuracy": float(np.min(accuracies)),
    }


def _evaluate_loso(folds_dir: Path, data: Path, as_json: bool) -> None:
    try:
        report = loso_report(folds_dir, data, progress=not as_json)
    except RnnstreamError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    if as_json:
        print(json.dumps(report))
        return
    table = Table(
        "held-out speaker", "fold model", "trained on", "n", "accuracy", title="leave-one-speaker-out"
    )
    for f in report["folds"]:  # type: ignore[attr-defined]
        table.add_row(
            f["speaker"],
            f["model"],
            ", ".join(f["train_speakers"] or []),
            str(f["n"]),
            f"{f['accuracy']:.4f}",
        )
    console = Console()
    console.print(table)
    console.print(
        f"mean accuracy over {report['speakers']} speakers: [bold]{report['mean_accuracy']:.4f}[/bold]  "
        f"(lowest {report['min_accuracy']:.4f})"
    )


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
