"""A local Redis Cluster for development and tests: ``nodes`` masters (no replicas) on free loopback ports,
each keeping nothing on disk, joined with ``redis-cli --cluster create``.

    with redis_cluster(Path("var/cluster"), nodes=3) as url:   # "redis://127.0.0.1:PORT/0", any node
        store = RedisClusterStateStore.from_url(url)

The binary is the one :func:`~rnnstream.localservices.redis_server.find_redis_server` picks, and ``redis-cli``
beside it (or on ``PATH``). Everything started is stopped when the block ends.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

from rnnstream.errors import ServiceError
from rnnstream.localservices.process import free_port, port_is_open, wait_until
from rnnstream.localservices.redis_server import find_redis_server, ping, redis_url

_BUS_OFFSET = 10000  # a cluster node also listens on port + 10000


def _cluster_ports(n: int) -> list[int]:
    """Free ports whose cluster bus port is a valid, free port too."""
    ports: list[int] = []
    while len(ports) < n:
        port = free_port()
        if (
            port + _BUS_OFFSET < 65536
            and port not in ports
            and not port_is_open("127.0.0.1", port + _BUS_OFFSET)
        ):
            ports.append(port)
    return ports


def _redis_cli(server: Path) -> Path:
    beside = server.with_name("redis-cli")
    if beside.is_file():
        return beside
    found = shutil.which("redis-cli")
    if found is None:
        raise ServiceError(f"redis-cli not found beside {server} nor on PATH")
    return Path(found)


def _wait(condition: Callable[[], bool], what: str, timeout_s: float) -> None:
    if not wait_until(condition, timeout_s):
        raise ServiceError(f"{what} after {timeout_s:.0f} s")


@contextlib.contextmanager
def redis_cluster(state_dir: Path, nodes: int = 3, *, timeout_s: float = 30.0) -> Iterator[str]:
    """A running cluster of ``nodes`` masters; yields the URL of its first node."""
    server = find_redis_server()
    cli = _redis_cli(server)
    state_dir.mkdir(parents=True, exist_ok=True)
    ports = _cluster_ports(nodes)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            argv = [str(server), "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes"]
            argv += ["--cluster-config-file", f"nodes-{port}.conf", "--save", "", "--appendonly", "no"]
            with (state_dir / f"redis-{port}.log").open("wb") as log:  # the child keeps its own descriptor
                procs.append(subprocess.Popen(argv, cwd=state_dir, stdout=log, stderr=subprocess.STDOUT))
        for port in ports:
            _wait(partial(ping, redis_url(port=port)), f"cluster node {port} does not answer", timeout_s)
        create = [str(cli), "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports]]
        result = subprocess.run(
            [*create, "--cluster-replicas", "0", "--cluster-yes"], capture_output=True, timeout=timeout_s
        )
        if result.returncode != 0:
            raise ServiceError(f"redis-cli --cluster create failed: {result.stdout.decode()[-500:]}")

        def state_ok() -> bool:
            info = subprocess.run(
                [str(cli), "-p", str(ports[0]), "cluster", "info"], capture_output=True, timeout=5
            ).stdout
            return b"cluster_state:ok" in info

        _wait(state_ok, "the cluster is not ok", timeout_s)
        yield redis_url(port=ports[0])
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
