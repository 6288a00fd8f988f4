"""Run ``rnnstream worker`` as a child process with its own topics, group and Redis key prefix: used by
``rnnstream demo``, ``rnnstream bench`` and the integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rnnstream.errors import ServiceError
from rnnstream.localservices.process import free_port


@dataclass(frozen=True)
class Namespace:
    """Unique names for one run: topics, consumer group and Redis key prefix."""

    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    prefix: str = "rnnstream-run"

    @property
    def input(self) -> str:
        return f"{self.prefix}-{self.tag}.events"

    @property
    def predictions(self) -> str:
        return f"{self.prefix}-{self.tag}.predictions"

    @property
    def dead_letters(self) -> str:
        return f"{self.prefix}-{self.tag}.deadletter"

    @property
    def key_prefix(self) -> str:
        return f"{self.prefix}-{self.tag}"

    def env(self, bootstrap: str, redis_url: str, model_repository: Path) -> dict[str, str]:
        """``RNNSTREAM_*`` settings for a worker of this namespace."""
        return {
            "RNNSTREAM_BROKER": f"kafka://{bootstrap}",
            "RNNSTREAM_REDIS_URL": redis_url,
            "RNNSTREAM_REDIS_KEY_PREFIX": self.key_prefix,
            "RNNSTREAM_APP_ID": self.key_prefix,
            "RNNSTREAM_INPUT_TOPIC": self.input,
            "RNNSTREAM_PREDICTION_TOPIC": self.predictions,
            "RNNSTREAM_DEAD_LETTER_TOPIC": self.dead_letters,
            "RNNSTREAM_MODEL_REPOSITORY": str(model_repository),
        }


class WorkerProcess:
    """One ``rnnstream worker`` child process; its output goes to ``log_path``."""

    def __init__(self, env: Mapping[str, str], log_path: Path, *, cwd: Path | None = None) -> None:
        self.port = free_port()
        self.log_path = log_path
        full = {
            **os.environ,
            "RNNSTREAM_LOG_LEVEL": "WARNING",
            **env,
            "RNNSTREAM_HTTP_PORT": str(self.port),
            "RNNSTREAM_HTTP_HOST": "127.0.0.1",
        }
        self._log = log_path.open("wb")
        exe = Path(sys.executable).parent / "rnnstream"
        self.proc = subprocess.Popen(
            [str(exe), "worker"], env=full, stdout=self._log, stderr=subprocess.STDOUT, cwd=cwd
        )
        self.started = time.monotonic()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def get(self, path: str) -> tuple[int, str]:
        """GET one of the worker's HTTP endpoints: ``(status, body)``; status 0 when nothing answers."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=3) as r:
                return int(r.status), r.read().decode()
        except urllib.error.HTTPError as e:
            return int(e.code), e.read().decode()
        except OSError as e:
            return 0, str(e)

    def wait_ready(self, timeout_s: float = 60.0) -> float:
        """Block until /readyz answers 200; returns the seconds since start."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceError(f"worker exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self.get("/readyz")[0] == 200:
                return time.monotonic() - self.started
            time.sleep(0.1)
        raise ServiceError(
            f"worker not ready after {timeout_s:.0f} s: {self.get('/readyz')}\n{self.log_tail()}"
        )

    def log_tail(self, n: int = 40) -> str:
        if not self._log.closed:  # still writing (after stop() the file is closed and complete)
            self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM and wait (SIGKILL after ``timeout_s``); returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return int(self.proc.returncode)
