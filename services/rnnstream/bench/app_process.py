"""A pipeline that is one Python process of its own, started with a command line and ready once it writes
its ready file: the ``quix`` pipeline (:mod:`.quix`) and the ``floor`` (:mod:`.floor`).

CPU and memory are that process's own (its threads included). Stopped with SIGTERM (SIGKILL after 30 s);
a process that had already exited with a failure is reported with its log tail.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from rnnstream.bench.pipelines import process_cpu_seconds, process_rss_bytes
from rnnstream.errors import ServiceError
from rnnstream.localservices.process import log_tail


class AppProcess:
    """One process running ``argv``, logging to ``log_path``; ready once ``ready_file`` exists."""

    name = "app"

    def __init__(self, argv: Sequence[str], *, log_path: Path, ready_file: Path, what: str) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self.ready_file = ready_file
        self.what = what
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    async def start(self) -> None:
        """Spawn the process (it joins the group within a few seconds and then consumes)."""
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )

    async def wait_ready(self, timeout_s: float) -> None:
        """Wait for the ready file; ``ServiceError`` with the log tail if the process exits or is late."""
        deadline = time.monotonic() + timeout_s
        while not self.ready_file.exists():
            if not self.alive():
                raise ServiceError(f"the {self.what} exited during start-up:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"the {self.what} got no partitions within {timeout_s:.0f} s:\n{self.log_tail()}"
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

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log_path, lines=lines)

    async def stop(self) -> None:
        """SIGTERM and wait (SIGKILL after 30 s); ``ServiceError`` with the log tail when the process had
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
            raise ServiceError(f"the {self.what} exited with {proc.returncode}:\n{self.log_tail()}")
