"""``rnnstream``: one command line for the offline and the online side.

Heavy imports (onnxruntime, librosa, faust, torch) happen inside the commands that need them, so ``--help``
is instant and the worker image needs neither librosa nor torch.
"""

from __future__ import annotations

import typer

from rnnstream import __version__
from rnnstream.cli import bench_cmd, clients_cmd, demo_cmd, models_cmd, services_cmd, worker_cmd

app = typer.Typer(
    name="rnnstream",
    help="Stateful RNN/GRU/LSTM predictions on Kafka streams, with recurrent state in Redis.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command(
    "predict",
    short_help="Run a model on audio files or text, chunked with carried state (the offline reference).",
)(models_cmd.predict)
app.command("eval", short_help="Score a model on a dataset split: accuracy, n, confusion matrix, F1.")(
    models_cmd.evaluate
)
app.command("demo", short_help="The whole service on the bundled samples, live, then a summary.")(
    demo_cmd.demo
)
app.command("worker", short_help="Run a streaming worker (configured by RNNSTREAM_* variables).")(
    worker_cmd.worker
)
app.command("bench", short_help="Benchmark the pipeline against a naive worker and a plain aiokafka loop.")(
    bench_cmd.bench
)
app.add_typer(clients_cmd.produce_app, name="produce")
app.command("tail", short_help="Watch predictions live (table or JSON lines).")(clients_cmd.tail)
models_app = typer.Typer(help="Inspect the model repository.", no_args_is_help=True)
models_app.command("list")(models_cmd.list_models)
app.add_typer(models_app, name="models")
app.add_typer(services_cmd.app, name="services")

try:  # the offline commands need the rnnstream_offline package (shipped in the same distribution)
    from rnnstream_offline import cli as offline_cli
except ImportError:  # pragma: no cover - a stripped worker image
    offline_cli = None  # type: ignore[assignment]
if offline_cli is not None:
    app.command("train", short_help="Train RNN/GRU/LSTM on FSDD or SMS, export, verify, publish.")(
        offline_cli.train
    )
    app.command("export", short_help="Export a checkpoint to ONNX, verify and publish it.")(
        offline_cli.export
    )
    app.command(
        "synth-digits", short_help="Synthesise spoken digits in many voices (espeak-ng) for training."
    )(offline_cli.synth_digits)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rnnstream {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Stateful RNN/GRU/LSTM predictions on Kafka streams, with recurrent state in Redis."""


def run() -> None:
    """Console-script entry point."""
    app()
