"""The broker's own share of the real-time latency: records at a steady rate through one Kafka hop, no worker.

A paced producer (one aiokafka producer, ``acks=all``, ``--linger-ms``) sends ``--rate`` records per second of
``--size`` bytes, keyed over ``--keys`` streams, to a fresh topic of ``--partitions`` partitions; a consumer in
the same process (``fetch_max_wait_ms=10``, as the bench's) reads them back, and each record's latency is the
time it was read minus the time it was handed to the producer (stamped in its first 8 bytes). The broker's CPU
is read from its process each second. What it shows (docs/benchmarks.md, "Real-time latency (issue 9, second
pass)"): what a worker cannot go below, and how tansu's memory storage gets dearer the more it holds.

    .venv/bin/python scripts/bench_broker_floor.py                  # a private tansu broker, 3,000/s, 10 s
    .venv/bin/python scripts/bench_broker_floor.py --linger-ms 0 --seconds 30
    .venv/bin/python scripts/bench_broker_floor.py --bootstrap 127.0.0.1:9092 --broker-pid PID
"""

from __future__ import annotations

import argparse
import asyncio
import json
import struct
import sys
import tempfile
import uuid
from pathlib import Path

import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from rnnstream.bench.load import now_ms, unacknowledged
from rnnstream.bench.report import latency_by_second, latency_summary
from rnnstream.localservices.session import broker_for_run

_STAMP = struct.Struct("<q")


async def run(args: argparse.Namespace, bootstrap: str, broker_pid: int | None) -> dict[str, object]:
    topic = f"broker-floor-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, args.partitions, 1)])
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest", fetch_max_wait_ms=10
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=args.linger_ms
    )
    await consumer.start()
    await producer.start()
    n = int(args.rate * args.seconds)
    latencies: list[int] = []
    arrived: list[int] = []
    broker = psutil.Process(broker_pid) if broker_pid else None
    cpu_by_second: list[float] = []

    async def collect() -> None:
        while len(latencies) < n:
            fetched = await consumer.getmany(timeout_ms=50, max_records=4096)
            got = now_ms()
            for records in fetched.values():
                for r in records:
                    latencies.append(got - _STAMP.unpack_from(r.value or b"\0" * 8)[0])
                    arrived.append(got)

    async def sample_cpu() -> None:
        if broker is None:
            return
        last = sum(broker.cpu_times()[:2])
        while True:
            await asyncio.sleep(1.0)
            now = sum(broker.cpu_times()[:2])
            cpu_by_second.append(round(100 * (now - last), 1))
            last = now

    collecting = asyncio.create_task(collect())
    sampling = asyncio.create_task(sample_cpu())
    loop = asyncio.get_running_loop()
    pad = b"x" * max(0, args.size - _STAMP.size)
    keys = [b"stream-%05d" % k for k in range(args.keys)]
    interval = 1.0 / args.rate
    pending: list[asyncio.Future[object]] = []
    started = loop.time()
    i = 0
    while i < n:
        due = min(n, int((loop.time() - started) / interval) + 1)
        while i < due:
            pending.append(await producer.send(topic, _STAMP.pack(now_ms()) + pad, key=keys[i % len(keys)]))
            i += 1
        pending = unacknowledged(pending)
        await asyncio.sleep(max(0.0, started + i * interval - loop.time()))
    await asyncio.gather(*pending)
    await asyncio.wait_for(collecting, timeout=60)
    sampling.cancel()
    await producer.stop()
    await consumer.stop()
    return {
        "command": " ".join(sys.argv),
        "rate": args.rate,
        "seconds": args.seconds,
        "linger_ms": args.linger_ms,
        "partitions": args.partitions,
        "records": len(latencies),
        "latency_ms": latency_summary(latencies),
        "latency_by_second": latency_by_second(latencies, arrived),
        "broker_cpu_percent_by_second": cpu_by_second,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bootstrap", help="a running broker (host:port); default: a private tansu broker")
    p.add_argument("--broker-pid", type=int, help="with --bootstrap: the broker's pid, to read its CPU")
    p.add_argument("--rate", type=float, default=3000.0, help="records per second (default 3000)")
    p.add_argument("--seconds", type=float, default=10.0, help="how long to send (default 10)")
    p.add_argument("--linger-ms", type=int, default=5, help="the producer's linger (default 5)")
    p.add_argument("--partitions", type=int, default=8, help="partitions of the topic (default 8)")
    p.add_argument("--keys", type=int, default=300, help="distinct keys, i.e. streams (default 300)")
    p.add_argument("--size", type=int, default=1700, help="bytes per record (default 1700, a v2 10x40 chunk)")
    args = p.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="broker-floor-") as tmp,
        broker_for_run(args.bootstrap, Path(tmp)) as (bootstrap, pid),
    ):
        result = asyncio.run(run(args, bootstrap, pid or args.broker_pid))
    lm = result["latency_ms"]
    assert isinstance(lm, dict)
    print(
        f"{result['records']} records at {args.rate:g}/s, linger {args.linger_ms} ms: "
        f"p50 {lm['p50']:.0f} ms, p95 {lm['p95']:.0f} ms, p99 {lm['p99']:.0f} ms, max {lm['max']:.0f} ms",
        file=sys.stderr,
    )
    cpu = result["broker_cpu_percent_by_second"]
    if cpu:
        print(f"broker CPU % by second: {cpu}", file=sys.stderr)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
