"""What ``up`` and ``status`` report about one local service."""

from __future__ import annotations

from dataclasses import dataclass


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
