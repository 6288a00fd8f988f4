"""Micro-benchmark of input-event decoding: v1 JSON, v2 binary and, for comparison, MessagePack.

    .venv/bin/python scripts/bench_codec.py                 # a 10 x 40 frames chunk (100 ms of FSDD audio)
    .venv/bin/python scripts/bench_codec.py --steps 100 --json-out codec.json

Each decoder does what the worker needs before admission: read the value, check every bound of the format,
check the frames are finite, and hand back a ``ChunkEvent``. v1 and v2 run the product's ``decode_event``;
MessagePack (a map whose frames are a ``bin`` field, read with ``msgpack.unpackb``) runs the same checks
written out here, to show what an off-the-shelf binary format would cost. Encoding is timed too (v1 and v2:
``encode_event`` from a ``ChunkEvent``, as the producers do). Every figure is the median, over ``--repeat``
repetitions, of the time per call of a ``timeit`` loop sized to run at least ``--min-time`` (0.2 s); the
loops of the six functions take turns, so load from other work on the machine falls on all of them alike.

msgpack is optional (the worker extra pulls it in with faust); without it that row is left out. Prints a
table on stderr and the JSON document on stdout.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from rnnstream.events import ChunkEvent, decode_event, encode_event
from rnnstream.events.chunk_event import decoded_chunk_event
from rnnstream.events.models import DEFAULT_MAX_CHUNK_STEPS, DEFAULT_MAX_EVENT_BYTES, INT64_MAX

LIMITS = {"max_bytes": DEFAULT_MAX_EVENT_BYTES, "max_steps": DEFAULT_MAX_CHUNK_STEPS}
MSGPACK_FIELDS = frozenset(
    {"v", "stream_id", "seq", "model", "model_version", "start", "end", "produced_at_ms", "shape", "frames"}
)


def _chunk(steps: int, width: int) -> ChunkEvent:
    frames = np.random.default_rng(0).normal(-6.0, 2.0, (steps, width)).astype(np.float32)
    return ChunkEvent(
        stream_id="bench-run1-00042",
        seq=17,
        model="fsdd-digits-lstm",
        model_version="2",
        start=False,
        end=False,
        produced_at_ms=1_764_201_600_000,
        frames=frames,
    )


# --- MessagePack, with the checks v2 makes written out by hand ---------------------------------------------


def _msgpack_encode(event: ChunkEvent) -> bytes:
    import msgpack

    assert event.frames is not None
    frames = np.ascontiguousarray(event.frames, dtype="<f4")
    doc = {
        "v": 1,
        "stream_id": event.stream_id,
        "seq": event.seq,
        "model": event.model,
        "model_version": event.model_version,
        "start": event.start,
        "end": event.end,
        "produced_at_ms": event.produced_at_ms,
        "shape": list(frames.shape),
        "frames": frames.tobytes(),
    }
    packed: bytes = msgpack.packb(doc, use_bin_type=True)
    return packed


def _name(value: Any, field: str) -> str:
    if type(value) is not str or not 0 < len(value) <= 256:
        raise ValueError(f"{field} must be a string of 1 to 256 characters")
    return value


def _int64(value: Any, field: str) -> int:
    if type(value) is not int or not 0 <= value <= INT64_MAX:
        raise ValueError(f"{field} must be an integer in 0..2^63-1")
    return value


def _msgpack_decoder() -> Callable[[bytes], ChunkEvent]:
    import msgpack

    unpackb = msgpack.unpackb

    def decode(raw: bytes) -> ChunkEvent:
        if len(raw) > DEFAULT_MAX_EVENT_BYTES:
            raise ValueError("oversized")
        doc = unpackb(raw, raw=False, strict_map_key=True)
        if type(doc) is not dict or doc.keys() != MSGPACK_FIELDS or doc["v"] != 1:
            raise ValueError("wrong schema")
        stream_id = _name(doc["stream_id"], "stream_id")
        if "{" in stream_id or "}" in stream_id:
            raise ValueError("stream_id holds a brace")
        version = doc["model_version"]
        shape, data, start, end = doc["shape"], doc["frames"], doc["start"], doc["end"]
        if type(start) is not bool or type(end) is not bool or type(data) is not bytes:
            raise ValueError("wrong schema")
        if type(shape) is not list or len(shape) != 2 or any(type(n) is not int for n in shape):
            raise ValueError("wrong shape")
        steps, width = shape
        if not 0 < steps <= DEFAULT_MAX_CHUNK_STEPS or width < 1 or len(data) != steps * width * 4:
            raise ValueError("wrong shape")
        frames = np.frombuffer(data, "<f4", steps * width, 0).reshape(steps, width)
        if not np.isfinite(frames).all():
            raise ValueError("non-finite")
        return decoded_chunk_event(
            stream_id,
            _int64(doc["seq"], "seq"),
            _name(doc["model"], "model"),
            None if version is None else _name(version, "model_version"),
            start,
            end,
            _int64(doc["produced_at_ms"], "produced_at_ms"),
            frames,
            None,
        )

    return decode


# --- timing ------------------------------------------------------------------------------------------------


def _time_us(
    fns: dict[str, Callable[[], object]], repeat: int, min_time: float
) -> dict[str, dict[str, float]]:
    """Per-call µs of each function (median and min over ``repeat`` loops). The loops of all functions take
    turns, so a neighbour's load on a shared machine falls on every function alike."""
    timers = {name: timeit.Timer(fn) for name, fn in fns.items()}
    numbers = {}
    for name, timer in timers.items():
        number = 1
        while timer.timeit(number) < min_time:  # calls per loop: doubled until one loop takes min_time
            number *= 2
        numbers[name] = number
    per_call: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, timer in timers.items():
            per_call[name].append(timer.timeit(numbers[name]) / numbers[name] * 1e6)
    return {
        name: {"median": statistics.median(times), "min": min(times), "calls_per_loop": numbers[name]}
        for name, times in per_call.items()
    }


def main(
    steps: Annotated[int, typer.Option(min=1, help="T: frames in the chunk.")] = 10,
    width: Annotated[int, typer.Option(min=1, help="F: features per frame (the FSDD model: 40).")] = 40,
    repeat: Annotated[
        int, typer.Option(min=3, help="Repetitions of each timeit loop; the median is kept.")
    ] = 15,
    min_time: Annotated[float, typer.Option(min=0.0, help="Seconds one timeit loop runs at least.")] = 0.2,
    json_out: Annotated[Path | None, typer.Option(help="Also write the JSON document to this file.")] = None,
) -> None:
    """Time decode + validation (and encoding) of one frames chunk in v1 JSON, v2 binary and MessagePack."""
    chunk = _chunk(steps, width)
    v1, v2 = encode_event(chunk, 1), encode_event(chunk, 2)
    cases: dict[str, tuple[str, bytes, Callable[[bytes], ChunkEvent], Callable[[], bytes]]] = {
        "v1": ("v1 JSON (decode_event)", v1, _product_decode, lambda: encode_event(chunk, 1)),
        "v2": ("v2 binary (decode_event)", v2, _product_decode, lambda: encode_event(chunk, 2)),
    }
    skipped = None
    try:
        cases["msgpack"] = (
            "MessagePack, bin frames (by hand)",
            _msgpack_encode(chunk),
            _msgpack_decoder(),
            lambda: _msgpack_encode(chunk),
        )
    except ImportError:
        skipped = "msgpack is not installed (optional: pip install msgpack)"
    fns: dict[str, Callable[[], object]] = {}
    for key, (label, raw, decode, encode) in cases.items():
        if decode(raw) != chunk:  # every decoder gives back the same chunk before anything is timed
            raise SystemExit(f"{label}: the decoded chunk differs from the encoded one")
        fns[f"{key}.decode"] = lambda raw=raw, decode=decode: decode(raw)
        fns[f"{key}.encode"] = encode
    times = _time_us(fns, repeat, min_time)
    results = {
        key: {
            "label": label,
            "bytes": len(raw),
            "decode_us": times[f"{key}.decode"],
            "encode_us": times[f"{key}.encode"],
        }
        for key, (label, raw, _, _) in cases.items()
    }
    document = {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "chunk": {"steps": steps, "width": width, "dtype": "float32"},
        "repeat": repeat,
        "min_time_s": min_time,
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "processor": _cpu_name(),
            "cpus": os.cpu_count(),
            "system": platform.platform(),
        },
        "load_average_after": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "results": results,
        "skipped": skipped,
    }
    _table(document)
    text = json.dumps(document, indent=2)
    print(text)
    if json_out is not None:
        json_out.write_text(text + "\n", encoding="utf-8")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _product_decode(raw: bytes) -> ChunkEvent:
    return decode_event(raw, **LIMITS)


def _table(document: dict[str, Any]) -> None:
    chunk = document["chunk"]
    table = Table(
        title=f"decode + validation of one {chunk['steps']} x {chunk['width']} float32 chunk (µs, median)"
    )
    for column in ("format", "decode µs", "min", "encode µs", "bytes", "vs v1"):
        table.add_column(column, justify="left" if column == "format" else "right")
    v1 = document["results"]["v1"]["decode_us"]["median"]
    for result in document["results"].values():
        decode = result["decode_us"]
        table.add_row(
            result["label"],
            f"{decode['median']:.1f}",
            f"{decode['min']:.1f}",
            f"{result['encode_us']['median']:.1f}",
            f"{result['bytes']:,}",
            f"{v1 / decode['median']:.1f}x",
        )
    err = Console(stderr=True)
    err.print(table)
    if document["skipped"]:
        err.print(document["skipped"])


if __name__ == "__main__":
    typer.run(main)
