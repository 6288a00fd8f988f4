"""The ``quix`` pipeline: :mod:`rnnstream.bench.quix_app` in its own process, driven like the faust workers.

The process gets the pipeline's topics and consumer group on its command line, its RocksDB state in a
folder of the run's temporary directory, and writes a ready file once its consumer has partitions
(see :mod:`.quix_app`). CPU and memory are that process's own (librdkafka's and RocksDB's threads
included). Stopped with SIGTERM, which ``Application.run()`` handles by committing and closing.

Quix Streams is the optional ``peer`` extra; :func:`quix_available` says whether it is installed without
importing it (the bench process does not load it).
"""

from __future__ import annotations

import asyncio
import importlib.util
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from rnnstream.bench.pipelines import (
    STATE_TTL_S,
    BatchStats,
    PipelineNames,
    process_cpu_seconds,
    process_rss_bytes,
)
from rnnstream.errors import ServiceError
from rnnstream.localservices.process import log_tail

QUIX_MISSING = (
    "the quix pipeline needs Quix Streams, which is not installed: pip install -e '.[peer]' "
    "(scripts/setup.sh installs it)"
)


def quix_available() -> bool:
    """Whether the ``quixstreams`` package can be imported here."""
    return importlib.util.find_spec("quixstreams") is not None


class QuixPipeline:
    """One ``python -m rnnstream.bench.quix_app`` process consuming the pipeline's input topic."""

    name = "quix"

    def __init__(
        self, names: PipelineNames, *, bootstrap: str, repository: Path, model: str, work_dir: Path
    ) -> None:
        self.names = names
        self.log_path = work_dir / "quix-app.log"
        self.ready_file = work_dir / "quix-ready"
        self.argv = [
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
            str(self.ready_file),
            "--state-ttl-s",
            str(STATE_TTL_S),
        ]
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    async def start(self) -> None:
        """Spawn the app (it joins the group within a few seconds and then consumes)."""
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )

    async def wait_ready(self, timeout_s: float) -> None:
        """Wait for the ready file; ``ServiceError`` with the log tail if the app exits or is late."""
        deadline = time.monotonic() + timeout_s
        while not self.ready_file.exists():
            if not self.alive():
                raise ServiceError(f"the quix app exited during start-up:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"the quix app got no partitions within {timeout_s:.0f} s:\n{self.log_tail()}"
                )
            await asyncio.sleep(0.1)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _pids(self) -> list[int]:
        return [self.proc.pid] if self.proc is not None else []

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self._pids())

    def rss_bytes(self) -> list[int]:
        return process_rss_bytes(self._pids())

    async def batch_stats(self) -> BatchStats:
        """One message per step and one row per ONNX Runtime call, by construction."""
        return BatchStats(1.0, 1.0)

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log_path, lines=lines)

    async def stop(self) -> None:
        """SIGTERM and wait (SIGKILL after 30 s); ``ServiceError`` with the log tail when the app had
        already exited on its own with a failure."""
        proc = self.proc
        if proc is None:
            return
        failed = proc.poll() not in (None, 0)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(proc.wait, 30.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait)
        if self._log is not None:
            self._log.close()
        if failed:
            raise ServiceError(f"the quix app exited with {proc.returncode}:\n{self.log_tail()}")
