"""The system under fault: its own tansu broker, its own Redis with an fsynced AOF, and N worker processes.

Everything here is started by the chaos run itself on free loopback ports (never the shared Redis on 6379 or
a broker other tests use), because the run kills, freezes and restarts it. Every fault is logged with its
wall-clock time, so the oracle can relate it to the predictions. :meth:`Cluster.close` resumes whatever is
frozen and stops everything it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rnnstream.errors import ServiceError
from rnnstream.localservices import (
    free_port,
    process,
    redis_status,
    start_broker,
    start_redis,
    stop_broker,
    stop_redis,
)
from rnnstream.localservices.cleanup import create_topics
from rnnstream.localservices.process import wait_until
from rnnstream.localservices.worker import Namespace, WorkerProcess
from rnnstream.worker.settings import WorkerSettings
from tests.paths import REPOSITORY

SESSION_ENV = "RNNSTREAM_SESSION_TIMEOUT_S"


@dataclass(frozen=True)
class Fault:
    """One thing done to the system: ``kind`` (``kill``, ``restart``, ``freeze``, ``thaw``,
    ``redis-kill``, ``redis-restart``, ``broker-freeze``, ``broker-thaw``) at wall-clock ``at``."""

    at: float
    kind: str
    target: str
    detail: str = ""


@dataclass
class Cluster:
    """Broker, Redis and ``workers`` workers for one chaos run, all under ``root``."""

    root: Path
    workers: int = 3
    partitions: int = 6
    worker_env: Mapping[str, str] = field(default_factory=dict)
    namespace: Namespace = field(default_factory=lambda: Namespace(prefix="rnnstream-chaos"))
    faults: list[Fault] = field(default_factory=list)
    bootstrap: str = ""
    redis_url: str = ""
    _redis_port: int = 0
    _procs: list[WorkerProcess | None] = field(default_factory=list)
    _starts: int = 0
    _frozen: set[int] = field(default_factory=set)
    zombie_fenced: int = 0  # writes refused by the fence, counted by each frozen worker 3 s after its thaw

    # --- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.bootstrap = start_broker(self.root / "broker", port=free_port()).address
        self._redis_port = free_port()
        self.redis_url = start_redis(self.root / "redis", port=self._redis_port, persistent=True).address
        ns = self.namespace
        asyncio.run(
            create_topics(self.bootstrap, [ns.input, ns.predictions, ns.dead_letters], self.partitions)
        )
        self._procs = [self._spawn(i) for i in range(self.workers)]
        for proc in self._procs:
            assert proc is not None
            proc.wait_ready(timeout_s=120)

    def env(self) -> dict[str, str]:
        """The workers' settings: this run's names and addresses, then any other ``RNNSTREAM_*`` variable of
        the caller's environment (``RNNSTREAM_SESSION_TIMEOUT_S=3 python -m tests.chaos failover``), then the
        plan's own."""
        own = {
            **self.namespace.env(self.bootstrap, self.redis_url, REPOSITORY),
            "RNNSTREAM_TOPIC_PARTITIONS": str(self.partitions),
        }
        passed = {k: v for k, v in os.environ.items() if k.startswith("RNNSTREAM_") and k not in own}
        return {**own, **passed, **self.worker_env}

    @property
    def session_timeout_s(self) -> float:
        """The workers' consumer session timeout (what they will read: plan, else environment, else default)."""
        value = self.env().get(SESSION_ENV)
        if value:
            return float(value)
        default = WorkerSettings.model_fields["session_timeout_s"].default
        return float(default)

    def _spawn(self, slot: int) -> WorkerProcess:
        self._starts += 1
        return WorkerProcess(self.env(), self.root / f"worker{slot}-{self._starts}.log")

    def close(self) -> None:
        """Resume what is frozen, stop the workers (SIGKILL: nothing is measured any more), Redis, broker."""
        with contextlib.suppress(ServiceError):
            self._signal_broker(signal.SIGCONT)
        for slot, proc in enumerate(self._procs):
            if proc is None:
                continue
            if slot in self._frozen:
                with contextlib.suppress(ProcessLookupError):
                    proc.proc.send_signal(signal.SIGCONT)
            if proc.proc.poll() is None:
                proc.proc.kill()
            proc.proc.wait()
            proc.stop()  # closes its log
        self._procs = []
        stop_redis(self.root / "redis")
        stop_broker(self.root / "broker")

    # --- looking ----------------------------------------------------------------------------------
    def alive(self) -> list[int]:
        """Slots whose worker runs and is not frozen."""
        return [
            i
            for i, p in enumerate(self._procs)
            if p is not None and p.proc.poll() is None and i not in self._frozen
        ]

    def counted(self, outcome: str, slots: list[int] | None = None) -> int:
        """``rnnstream_events_total{outcome=...}`` summed over ``slots`` (default: the workers running now; a
        killed worker's counts die with it, so this is a lower bound)."""
        total = 0.0
        for slot in self.alive() if slots is None else slots:
            proc = self._procs[slot]
            assert proc is not None
            status, body = proc.get("/metrics")
            for line in body.splitlines() if status == 200 else []:
                if line.startswith("rnnstream_events_total{") and f'outcome="{outcome}"' in line:
                    total += float(line.rsplit(" ", 1)[1])
        return int(total)

    def _thaw(self, slot: int, proc: WorkerProcess) -> None:
        """SIGCONT, then give the zombie a moment to try its stale writes and record how many were fenced."""
        proc.proc.send_signal(signal.SIGCONT)
        self._frozen.discard(slot)
        time.sleep(3.0)
        fenced = self.counted("fenced", [slot]) if proc.proc.poll() is None else 0
        self.zombie_fenced += fenced
        self._log("thaw", f"worker{slot}", f"{fenced} of its writes fenced so far")

    def logs(self) -> list[Path]:
        return sorted(self.root.glob("worker*.log"))

    def _log(self, kind: str, target: str, detail: str = "") -> float:
        now = time.time()
        self.faults.append(Fault(now, kind, target, detail))
        return now

    # --- worker faults ----------------------------------------------------------------------------
    def kill(self, slot: int) -> float:
        """SIGKILL worker ``slot``: no goodbye, nothing committed after its last commit."""
        proc = self._procs[slot]
        assert proc is not None and proc.proc.poll() is None, f"worker {slot} is not running"
        proc.proc.send_signal(signal.SIGKILL)
        at = self._log("kill", f"worker{slot}", f"pid {proc.pid}")
        proc.proc.wait()
        proc.stop()
        self._procs[slot] = None
        return at

    def restart(self, slot: int, *, wait_ready_s: float = 0.0) -> float:
        """Start a new worker in ``slot``; optionally wait (bounded) until it is ready."""
        assert self._procs[slot] is None, f"worker {slot} still runs"
        proc = self._spawn(slot)
        self._procs[slot] = proc
        at = self._log("restart", f"worker{slot}", f"pid {proc.pid}")
        if wait_ready_s > 0:
            with contextlib.suppress(ServiceError):  # slow to join under faults: the oracle judges
                proc.wait_ready(timeout_s=wait_ready_s)
        if proc.proc.poll() is not None:
            raise ServiceError(f"restarted worker {slot} exited:\n{proc.log_tail()}")
        return at

    def freeze(self, slot: int, seconds: float) -> float:
        """SIGSTOP worker ``slot`` for ``seconds``, then SIGCONT: it comes back as a zombie owner."""
        proc = self._procs[slot]
        assert proc is not None and proc.proc.poll() is None
        proc.proc.send_signal(signal.SIGSTOP)
        self._frozen.add(slot)
        at = self._log("freeze", f"worker{slot}", f"{seconds:.1f} s")
        time.sleep(seconds)
        self._thaw(slot, proc)
        return at

    def freeze_as_zombie(self, slot: int, seconds: float, *, broker_pause_s: float = 1.5) -> float:
        """Freeze worker ``slot`` while it most likely holds a batch between load and store, so that it wakes
        up as a zombie with a stale write: pause the broker (every worker with input in hand computes it and
        then waits on the publish), SIGSTOP the worker, resume the broker, SIGCONT the worker ``seconds``
        later, past the session timeout. Its partitions have moved on meanwhile; the fence must refuse it."""
        self._signal_broker(signal.SIGSTOP)
        self._log("broker-pause", "broker", f"{broker_pause_s:.1f} s")
        time.sleep(broker_pause_s / 2)
        proc = self._procs[slot]
        assert proc is not None and proc.proc.poll() is None
        proc.proc.send_signal(signal.SIGSTOP)
        self._frozen.add(slot)
        at = self._log("freeze", f"worker{slot}", f"{seconds:.1f} s, caught during a broker pause")
        time.sleep(broker_pause_s / 2)
        self._signal_broker(signal.SIGCONT)
        self._log("broker-resume", "broker")
        time.sleep(seconds)
        self._thaw(slot, proc)
        return at

    # --- Redis and broker -------------------------------------------------------------------------
    def restart_redis(self, down_s: float) -> float:
        """SIGKILL Redis, leave it down ``down_s``, start it again on the same port from its AOF."""
        status = redis_status(self.root / "redis", port=self._redis_port)
        if status.pid is None:
            raise ServiceError("the chaos Redis is not running")
        os.kill(status.pid, signal.SIGKILL)
        at = self._log("redis-kill", "redis", f"pid {status.pid}")
        if not wait_until(lambda: not redis_status(self.root / "redis", port=self._redis_port).running, 10):
            raise ServiceError("Redis did not die after SIGKILL")
        time.sleep(down_s)
        again = start_redis(self.root / "redis", port=self._redis_port, persistent=True, timeout_s=60)
        self._log("redis-restart", "redis", f"pid {again.pid}")
        return at

    def _signal_broker(self, sig: signal.Signals) -> None:
        record = process.read_record(process.resolve_state_dir(self.root / "broker"), "broker")
        if record is None or not process.is_running(record):  # no Kafka probe: it may be frozen
            raise ServiceError("the chaos broker is not running")
        os.kill(record.pid, sig)

    def freeze_broker(self, seconds: float) -> float:
        """SIGSTOP the broker for ``seconds`` (every session expires), then SIGCONT."""
        self._signal_broker(signal.SIGSTOP)
        at = self._log("broker-freeze", "broker", f"{seconds:.1f} s")
        time.sleep(seconds)
        self._signal_broker(signal.SIGCONT)
        self._log("broker-thaw", "broker")
        return at
