"""``rnnstream demo``: the committed models on the bundled samples, chunk by chunk with carried state."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from rnnstream.cli.models_cmd import DEFAULT_REPOSITORY, resolve_model_dir


def demo(
    repository: Annotated[
        Path, typer.Option("--repository", "-r", help="Model repository.")
    ] = DEFAULT_REPOSITORY,
    chunk: Annotated[int, typer.Option(min=1, help="Frames (audio) or tokens (text) per chunk.")] = 10,
) -> None:
    """Classify the bundled FSDD recordings and SMS messages with the committed models, streamed in chunks
    with carried state, and check every final prediction against one whole-sequence pass."""
    import numpy as np

    from rnnstream.features.audio import file_features
    from rnnstream.features.text import tokenize
    from rnnstream.runtime.predict import predict_sequence
    from rnnstream.runtime.session import OnnxModel
    from rnnstream.samples import sample_messages, sample_recordings

    console = Console()
    audio = OnnxModel(resolve_model_dir("fsdd-digits-lstm", repository))
    text = OnnxModel(resolve_model_dir("sms-spam-lstm", repository))
    table = Table(
        "stream",
        "truth",
        "predicted",
        "score",
        "steps",
        "chunks",
        "max |chunked - whole|",
        title=f"rnnstream demo: chunks of {chunk}",
    )
    correct = total = 0
    worst = 0.0
    started = time.perf_counter()
    items: list[tuple[str, str, OnnxModel, np.ndarray]] = []  # type: ignore[type-arg]
    for path, label in sample_recordings():
        assert audio.manifest.features is not None
        items.append((path.name, label, audio, file_features(path, audio.manifest.features)))
    for i, (msg, label) in enumerate(sample_messages()):
        items.append((f"sms-{i}: {msg[:28]}…", label, text, text.encode(tokenize(msg))))
    for name, label, model, x in items:
        streamed = predict_sequence(model, x, chunk)
        whole = predict_sequence(model, x, 0)
        diff = max(abs(streamed.scores[k] - v) for k, v in whole.scores.items())
        worst = max(worst, diff)
        correct += streamed.label == label
        total += 1
        mark = "[green]" if streamed.label == label else "[red]"
        table.add_row(
            name,
            label,
            f"{mark}{streamed.label}",
            f"{streamed.scores[streamed.label]:.3f}",
            str(streamed.steps),
            str(streamed.chunks),
            f"{diff:.1e}",
        )
    console.print(table)
    console.print(
        f"{total} streams, accuracy {correct}/{total}, worst chunked-vs-whole difference {worst:.1e} "
        f"(tolerance 1e-5), {time.perf_counter() - started:.2f} s"
    )
    if worst > 1e-5:
        raise typer.Exit(1)
