"""Coverage-guided fuzzing of ``decode_event`` (v1 JSON and v2 binary) and of the worker's prepare stage
(decode → key check → admit → step → encoding of every key and record) with atheris, starting from the seeded
corpora of ``tests/fuzz_corpus.py`` (v1 and v2).

    .venv/bin/pip install -e '.[fuzz]'
    .venv/bin/python scripts/fuzz_decoder.py -atheris_runs=200000   # any libFuzzer flag works

A finding is any exception but ``EventError`` from ``decode_event``, a dead letter that does not give the
value back, or a record that yields other than exactly one output (a prediction or a dead letter);
libFuzzer then writes the input to ``crash-*`` and stops. The first byte of each input chooses the Kafka key (none, the
stream id the value names, or the bytes before a NUL).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    import atheris

    with atheris.instrument_imports():
        from rnnstream.events import decode_event  # noqa: F401  (instrumented)
        from tests.component.test_decoder_fuzz import _decode_or_refuse, _prepare_one

    def key_and_value(data: bytes) -> tuple[bytes | None, bytes]:
        if not data:
            return None, b""
        mode, value = data[0] % 3, data[1:]
        if mode == 0:
            return None, value
        if mode == 1:
            head, _, rest = value.partition(b"\0")
            return head, rest
        if value[:4] == b"RNS2" and len(value) >= 40:  # v2: the stream id's length is at bytes 32-33
            return value[40 : 40 + int.from_bytes(value[32:34], "little")], value
        import json

        try:
            stream = json.loads(value).get("stream_id")
        except Exception:
            stream = None
        return (stream.encode("utf-8", "surrogatepass") if isinstance(stream, str) else b"k"), value

    def one_input(data: bytes) -> None:
        key, value = key_and_value(data)
        _decode_or_refuse(value)
        _prepare_one(key, value)

    corpus_dir = ROOT / "var" / "fuzz-corpus"
    if not corpus_dir.exists():
        from tests.fuzz_corpus import binary_corpus, corpus

        corpus_dir.mkdir(parents=True)
        for i, (key, value) in enumerate(corpus() + binary_corpus()):
            prefix = b"\x00" if key is None else b"\x01" + key + b"\x00"
            (corpus_dir / f"seed-{i:04d}").write_bytes(prefix + value)
    atheris.Setup([sys.argv[0], str(corpus_dir), *sys.argv[1:]], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
