"""The ``quix`` pipeline: :mod:`rnnstream.bench.quix_app` in its own process, driven like the faust workers.

The process (:class:`~rnnstream.bench.app_process.AppProcess`) gets the pipeline's topics and consumer group
on its command line, its RocksDB state in a folder of the run's temporary directory, and writes a ready file
once its consumer has partitions (see :mod:`.quix_app`). CPU and memory are that process's own (librdkafka's
and RocksDB's threads included). Stopped with SIGTERM, which ``Application.run()`` handles by committing and
closing.

Quix Streams is the optional ``peer`` extra; :func:`quix_available` says whether it is installed without
importing it (the bench process does not load it).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from rnnstream.bench.app_process import AppProcess
from rnnstream.bench.pipelines import STATE_TTL_S, BatchStats, PipelineNames

QUIX_MISSING = (
    "the quix pipeline needs Quix Streams, which is not installed: pip install -e '.[peer]' "
    "(scripts/setup.sh installs it)"
)


def quix_available() -> bool:
    """Whether the ``quixstreams`` package can be imported here."""
    return importlib.util.find_spec("quixstreams") is not None


class QuixPipeline(AppProcess):
    """One ``python -m rnnstream.bench.quix_app`` process consuming the pipeline's input topic."""

    name = "quix"

    def __init__(
        self, names: PipelineNames, *, bootstrap: str, repository: Path, model: str, work_dir: Path
    ) -> None:
        self.names = names
        argv = [
            sys.executable,
            "-m",
            "rnnstream.bench.quix_app",
            "--broker",
            bootstrap,
            "--input-topic",
            names.input,
            "--prediction-topic",
            names.predictions,
            "--group",
            names.group,
            "--state-dir",
            str(work_dir / "quix-state"),
            "--repository",
            str(repository.resolve()),
            "--model",
            model,
            "--ready-file",
            str(work_dir / "quix-ready"),
            "--state-ttl-s",
            str(STATE_TTL_S),
        ]
        super().__init__(
            argv, log_path=work_dir / "quix-app.log", ready_file=work_dir / "quix-ready", what="quix app"
        )

    async def batch_stats(self) -> BatchStats:
        """One message per step and one row per ONNX Runtime call, by construction."""
        return BatchStats(1.0, 1.0)
