"""Fixtures for the state store contract: a real Redis.

Redis comes from the session fixture ``redis_url`` (``tests/services_fixtures.py``).
Every key written lives under one random prefix per session, and only those keys are deleted at the end.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from rnnstream.localservices import free_port, ping
from rnnstream.localservices.cleanup import delete_keys
from rnnstream.localservices.redis_server import find_redis_server


@pytest.fixture(scope="session")
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A random key prefix for this session; its keys (and only those) are deleted afterwards."""
    prefix = f"rnnstream-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    asyncio.run(delete_keys(redis_url, prefix))


@pytest.fixture
def raw_redis(redis_url: str) -> Iterator[redis.Redis]:
    """A plain synchronous client, for poking at stored values."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _cluster_ports(n: int) -> list[int]:
    """Free ports whose cluster bus port (port + 10000) is a valid, free port too."""
    ports: list[int] = []
    while len(ports) < n:
        port = free_port()
        if port < 55000 and port not in ports and _port_free(port + 10000):
            ports.append(port)
    return ports


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real three-node Redis Cluster (no replicas) on free ports, for this test session only."""
    server = find_redis_server()
    cli = server.with_name("redis-cli")
    if not cli.is_file():
        found = shutil.which("redis-cli")
        assert found, "redis-cli not found beside redis-server nor on PATH"
        cli = Path(found)
    root = tmp_path_factory.mktemp("redis-cluster")
    ports = _cluster_ports(3)
    procs = []
    try:
        for port in ports:
            procs.append(
                subprocess.Popen(
                    [
                        str(server),
                        "--port",
                        str(port),
                        "--bind",
                        "127.0.0.1",
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        f"nodes-{port}.conf",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                    ],
                    cwd=root,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        for port in ports:
            for _ in range(100):
                if ping(f"redis://127.0.0.1:{port}/0"):
                    break
                time.sleep(0.05)
        subprocess.run(
            [
                str(cli),
                "--cluster",
                "create",
                *[f"127.0.0.1:{p}" for p in ports],
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        client = redis.Redis(port=ports[0])
        for _ in range(200):  # the nodes agree within a second or two; a guard, not a speed check
            if client.cluster("info").get("cluster_state") == "ok":
                break
            time.sleep(0.05)
        client.close()
        yield f"redis://127.0.0.1:{ports[0]}/0"
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)
