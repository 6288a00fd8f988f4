"""A Kafka readiness probe with the standard library only: one Metadata (v0) request over TCP.

An open port is not a ready broker; a broker that answers a Metadata request with itself in the broker list
is. Doing it by hand keeps ``rnnstream services`` free of aiokafka (an optional dependency) and of an event
loop. Wire format (big-endian): request ``size:int32, api_key:int16=3, api_version:int16=0,
correlation_id:int32, client_id:string, topics:array(int32 count)``; response ``size:int32,
correlation_id:int32, brokers:[node_id:int32, host:string, port:int32], topics:[...]``.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from rnnstream.errors import ServiceError

_METADATA_API_KEY = 3
_CORRELATION_ID = 0x524E5331  # "RNS1"
_CLIENT_ID = b"rnnstream-probe"
_MAX_RESPONSE_BYTES = 1 << 20


@dataclass(frozen=True)
class BrokerAddress:
    """One broker as the cluster advertises it."""

    node_id: int
    host: str
    port: int


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    chunks: list[bytes] = []
    remaining = n
    while remaining:
        chunk = sock.recv(remaining)
        if not chunk:
            raise ServiceError("the broker closed the connection in the middle of a response")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _metadata_request() -> bytes:
    body = struct.pack(">hhih", _METADATA_API_KEY, 0, _CORRELATION_ID, len(_CLIENT_ID)) + _CLIENT_ID
    body += struct.pack(">i", 0)  # v0: an empty topic list means "all topics"
    return struct.pack(">i", len(body)) + body


def _parse_brokers(payload: bytes) -> list[BrokerAddress]:
    (correlation_id, count) = struct.unpack_from(">ii", payload, 0)
    if correlation_id != _CORRELATION_ID:
        raise ServiceError(f"unexpected correlation id {correlation_id} in the Metadata response")
    offset = 8
    brokers: list[BrokerAddress] = []
    for _ in range(count):
        node_id, host_len = struct.unpack_from(">ih", payload, offset)
        offset += 6
        host = payload[offset : offset + host_len].decode("utf-8")
        offset += host_len
        (port,) = struct.unpack_from(">i", payload, offset)
        offset += 4
        brokers.append(BrokerAddress(node_id=node_id, host=host, port=port))
    return brokers


def kafka_metadata(host: str, port: int, *, timeout_s: float = 2.0) -> list[BrokerAddress]:
    """Ask the Kafka-protocol server at ``host:port`` for its broker list.

    Raises :class:`ServiceError` when nothing listens, the peer does not speak Kafka, or it answers garbage.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(_metadata_request())
            (size,) = struct.unpack(">i", _recv_exactly(sock, 4))
            if not 8 <= size <= _MAX_RESPONSE_BYTES:
                raise ServiceError(f"{host}:{port} answered a Metadata request with a {size}-byte frame")
            payload = _recv_exactly(sock, size)
    except OSError as exc:
        raise ServiceError(f"no Kafka broker answers on {host}:{port}: {exc}") from exc
    try:
        return _parse_brokers(payload)
    except (struct.error, UnicodeDecodeError) as exc:
        raise ServiceError(f"{host}:{port} sent a Metadata response that cannot be parsed") from exc


def answers_kafka(host: str, port: int, *, timeout_s: float = 1.0) -> bool:
    """True when a Kafka-protocol broker answers a Metadata request on ``host:port``."""
    try:
        return bool(kafka_metadata(host, port, timeout_s=timeout_s))
    except ServiceError:
        return False
