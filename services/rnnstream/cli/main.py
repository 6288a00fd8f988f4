"""``rnnstream``: one command line for the offline and the online side.

Heavy imports (onnxruntime, librosa, faust, torch) happen inside the commands that need them, so ``--help``
is instant and the worker image needs neither librosa nor torch.
"""

from __future__ import annotations

import typer

from rnnstream import __version__
from rnnstream.cli import bench_cmd, demo_cmd, models_cmd, services_cmd, worker_cmd

app = typer.Typer(
    name="rnnstream",
    help="Stateful RNN/GRU/LSTM predictions on Kafka streams, with recurrent state in Redis.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("predict")(models_cmd.predict)
app.command("eval")(models_cmd.evaluate)
app.command("demo")(demo_cmd.demo)
app.command("worker")(worker_cmd.worker)
app.command("bench")(bench_cmd.bench)
models_app = typer.Typer(help="Inspect the model repository.", no_args_is_help=True)
models_app.command("list")(models_cmd.list_models)
app.add_typer(models_app, name="models")
app.add_typer(services_cmd.app, name="services")

try:  # the offline commands need the rnnstream_offline package (shipped in the same distribution)
    from rnnstream_offline import cli as offline_cli
except ImportError:  # pragma: no cover - a stripped worker image
    offline_cli = None  # type: ignore[assignment]
if offline_cli is not None:
    app.command("train")(offline_cli.train)
    app.command("export")(offline_cli.export)


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
