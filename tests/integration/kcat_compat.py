"""A local tansu broker that Debian's kcat can talk to: tansu behind a one-fix Kafka proxy.

Debian 12's kcat links librdkafka 2.0.2, which skips tagged fields one byte short (fixed in librdkafka 2.2.0,
confluentinc/librdkafka#4278). tansu 0.6.0 answers ``ApiVersions`` v3 with tagged fields (supported and
finalized features), so that kcat fails every connection with "Read underflow". The proxy here forwards
every byte unchanged except the top-level tagged fields of ``ApiVersions`` v3+ responses, which it drops
(they describe broker features no client here uses). tansu advertises the proxy's address, so every
connection kcat opens goes through it. With a newer librdkafka, or a real Kafka broker, none of this is
needed (docs/clients.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

from rnnstream.localservices import find_tansu, free_port, wait_for_broker

_API_VERSIONS = 18


def _uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def drop_api_versions_tags(body: bytes) -> bytes:
    """An ApiVersions v3+ response body (after the correlation id) with an empty top-level tag section."""
    pos = 2  # error_code
    count, pos = _uvarint(body, pos)  # compact array: n + 1
    for _ in range(max(count - 1, 0)):
        pos += 6  # api_key, min_version, max_version
        tags, pos = _uvarint(body, pos)
        for _ in range(tags):
            _, pos = _uvarint(body, pos)
            size, pos = _uvarint(body, pos)
            pos += size
    pos += 4  # throttle_time_ms
    return body[:pos] + b"\x00"


async def _requests(src: asyncio.StreamReader, dst: asyncio.StreamWriter, flexible: set[int]) -> None:
    with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
        while True:
            head = await src.readexactly(4)
            body = await src.readexactly(struct.unpack(">i", head)[0])
            api_key, version, correlation = struct.unpack_from(">hhi", body)
            if api_key == _API_VERSIONS and version >= 3:
                flexible.add(correlation)
            dst.write(head + body)
            await dst.drain()
    dst.close()


async def _responses(src: asyncio.StreamReader, dst: asyncio.StreamWriter, flexible: set[int]) -> None:
    with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
        while True:
            (size,) = struct.unpack(">i", await src.readexactly(4))
            body = await src.readexactly(size)
            (correlation,) = struct.unpack_from(">i", body)
            if correlation in flexible:
                flexible.discard(correlation)
                body = body[:4] + drop_api_versions_tags(body[4:])
            dst.write(struct.pack(">i", len(body)) + body)
            await dst.drain()
    dst.close()


class _Proxy(threading.Thread):
    def __init__(self, listen_port: int, target_port: int) -> None:
        super().__init__(name="kcat-compat-proxy", daemon=True)
        self.listen_port, self.target_port = listen_port, target_port
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self._shutdown: asyncio.Event | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        flexible: set[int] = set()
        await asyncio.gather(_requests(reader, up_writer, flexible), _responses(up_reader, writer, flexible))

    async def _serve(self) -> None:
        self._shutdown = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", self.listen_port)
        self.ready.set()
        async with server:
            await self._shutdown.wait()
        connections = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in connections:
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)

    def run(self) -> None:
        self.loop.run_until_complete(self._serve())
        self.loop.close()

    def stop(self) -> None:
        if self._shutdown is not None:
            self.loop.call_soon_threadsafe(self._shutdown.set)
        self.join(timeout=5)


@contextlib.contextmanager
def kcat_friendly_broker(log_path: Path) -> Iterator[str]:
    """Start tansu (memory storage) behind the proxy; yields the proxy's ``127.0.0.1:PORT``."""
    broker_port, proxy_port = free_port(), free_port()
    proxy = _Proxy(proxy_port, broker_port)
    proxy.start()
    proxy.ready.wait(5)
    argv = [
        str(find_tansu()),
        "broker",
        "--listener-url",
        f"tcp://127.0.0.1:{broker_port}",
        "--advertised-listener-url",
        f"tcp://127.0.0.1:{proxy_port}",
        "--storage-engine",
        "memory://tansu/",
        "--cluster-id",
        "rnnstream-kcat",
    ]
    with log_path.open("wb") as log:
        broker = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_broker("127.0.0.1", proxy_port)
        yield f"127.0.0.1:{proxy_port}"
    finally:
        broker.terminate()
        try:
            broker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            broker.kill()
            broker.wait()
        proxy.stop()
