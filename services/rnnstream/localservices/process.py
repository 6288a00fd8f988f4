"""Child processes that outlive their starter: spawn, record, find again, stop.

A managed service leaves two files in the state directory: ``<name>.pid`` (the process id, for people and
tools) and ``<name>.json`` (pid, port, command line, log path), plus its log ``<name>.log``. A later call,
even from another process, reads the record back to tell whether the service still runs and to stop it.
Nothing here knows about Kafka or Redis.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from rnnstream.errors import ServiceError

#: Where ``up`` keeps pid files and logs unless told otherwise (relative to the current directory).
DEFAULT_STATE_DIR = Path("var") / "services"

# Popen handles of the children this interpreter started, kept so they can be reaped (no zombies, no
# "subprocess still running" ResourceWarning when the handle is collected).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class ProcessRecord:
    """What the state directory remembers about one started process."""

    name: str
    pid: int
    port: int
    argv: list[str]
    log_path: str
    started_at: float


def resolve_state_dir(state_dir: Path | str | None) -> Path:
    """The state directory as an absolute path (``./var/services`` when ``None``)."""
    return Path(state_dir if state_dir is not None else DEFAULT_STATE_DIR).resolve()


def _record_path(state_dir: Path, name: str) -> Path:
    return state_dir / f"{name}.json"


def pid_path(state_dir: Path, name: str) -> Path:
    """The pid file of service ``name``."""
    return state_dir / f"{name}.pid"


def log_path(state_dir: Path, name: str) -> Path:
    """The log file of service ``name``."""
    return state_dir / f"{name}.log"


def read_record(state_dir: Path, name: str) -> ProcessRecord | None:
    """The record of ``name`` in ``state_dir``, or ``None`` when there is none (or it is unreadable)."""
    try:
        data = json.loads(_record_path(state_dir, name).read_text(encoding="utf-8"))
        return ProcessRecord(**data)
    except (OSError, ValueError, TypeError):
        return None


def _write_record(state_dir: Path, record: ProcessRecord) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    _record_path(state_dir, record.name).write_text(json.dumps(asdict(record), indent=2), encoding="utf-8")
    pid_path(state_dir, record.name).write_text(f"{record.pid}\n", encoding="utf-8")


def forget(state_dir: Path, name: str) -> None:
    """Remove the record and pid file of ``name`` (the log stays for post-mortems)."""
    for path in (_record_path(state_dir, name), pid_path(state_dir, name)):
        path.unlink(missing_ok=True)


def _reap(pid: int) -> bool:
    """Collect ``pid`` if it is an exited child of ours; True when it has exited."""
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return False
        _CHILDREN.pop(pid, None)
        return True
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child: someone else reaps it
        return False
    return done == pid


def is_running(record: ProcessRecord) -> bool:
    """True when the recorded process is alive and still runs the recorded program (not a reused pid)."""
    child = _CHILDREN.get(record.pid)
    if child is not None:  # started by this interpreter: the handle knows
        return not _reap(record.pid)
    if _reap(record.pid):
        return False
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but someone else's: not the process we started
        return False
    cmdline = Path(f"/proc/{record.pid}/cmdline")
    if sys.platform.startswith("linux") and cmdline.exists():
        try:
            if Path(f"/proc/{record.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return False  # exited, waiting for a parent that is not us to reap it
            # Redis rewrites its title ("redis-server 127.0.0.1:6379"), so compare the first word only.
            argv0 = cmdline.read_bytes().split(b"\0", 1)[0].split(b" ", 1)[0].decode(errors="replace")
        except (OSError, IndexError):
            return False
        return Path(argv0).name == Path(record.argv[0]).name
    return True


def spawn(name: str, argv: Sequence[str], state_dir: Path, port: int) -> ProcessRecord:
    """Start ``argv`` in its own session with output to ``<name>.log``, and record it.

    The child does not die with its starter (so ``rnnstream services up`` can return); use :func:`stop`.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    log = log_path(state_dir, name)
    with log.open("ab") as out:
        try:
            child = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=state_dir,
                start_new_session=True,
            )
        except OSError as exc:
            raise ServiceError(f"cannot start {name} ({argv[0]}): {exc}") from exc
    _CHILDREN[child.pid] = child
    record = ProcessRecord(
        name=name, pid=child.pid, port=port, argv=list(argv), log_path=str(log), started_at=time.time()
    )
    _write_record(state_dir, record)
    return record


def stop(record: ProcessRecord, *, timeout_s: float = 10.0) -> None:
    """Send SIGTERM, wait up to ``timeout_s``, then SIGKILL; returns once the process is gone."""
    if not is_running(record):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, signal.SIGTERM)
    if wait_until(lambda: not is_running(record), timeout_s):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, signal.SIGKILL)
    if not wait_until(lambda: not is_running(record), 5.0):
        raise ServiceError(f"{record.name} (pid {record.pid}) did not exit after SIGKILL")


def wait_until(predicate: Callable[[], bool], timeout_s: float, *, interval_s: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout_s`` passed; returns its last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)


def log_tail(path: Path | str, *, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file ('' when it cannot be read)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def port_is_open(host: str, port: int, *, timeout_s: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
