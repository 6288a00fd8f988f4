"""What ``up`` and ``status`` report about one local service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rnnstream.localservices import process


@dataclass(frozen=True)
class ServiceStatus:
    """The state of one local service (``broker`` or ``redis``).

    ``managed`` is True when this state directory started the process (so ``down`` will stop it); a service
    that answers but was started by someone else is ``running`` and not ``managed``, and is never stopped.
    ``address`` is how clients reach it: ``127.0.0.1:9092`` for the broker, ``redis://127.0.0.1:6379/0``
    for Redis.
    """

    name: str
    running: bool
    managed: bool
    address: str
    pid: int | None = None
    log_path: str | None = None
    detail: str = ""

    def describe(self) -> str:
        """One line for people: ``broker   up    127.0.0.1:9092  pid 123 (started here)``."""
        state = "up" if self.running else "down"
        who = f"pid {self.pid} (started here)" if self.managed else "(not started here)"
        if not self.running:
            who = ""
        line = f"{self.name:<7} {state:<5} {self.address:<28} {who}".rstrip()
        return f"{line}  {self.detail}" if self.detail else line


def stop_recorded(
    state_dir: Path | str | None, name: str, address: Callable[[int], str], *, timeout_s: float = 10.0
) -> ServiceStatus | None:
    """Stop the service ``name`` that ``state_dir`` started; its last status, ``None`` if there was none."""
    directory = process.resolve_state_dir(state_dir)
    record = process.read_record(directory, name)
    if record is None:
        return None
    process.stop(record, timeout_s=timeout_s)
    process.forget(directory, name)
    return ServiceStatus(
        name,
        running=False,
        managed=True,
        address=address(record.port),
        pid=record.pid,
        log_path=record.log_path,
        detail="stopped",
    )
