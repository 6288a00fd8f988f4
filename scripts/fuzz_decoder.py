"""Coverage-guided fuzzing of the worker's prepare stage (decode → key check → admit → step → encoding of
every key and record) with atheris, starting from the seeded corpus of ``tests/fuzz_corpus.py``.

    .venv/bin/pip install -e '.[fuzz]'
    .venv/bin/python scripts/fuzz_decoder.py -atheris_runs=200000   # any libFuzzer flag works

A finding is any exception, or a record that yields other than exactly one output (a prediction or a dead
letter); libFuzzer then writes the input to ``crash-*`` and stops. The first two bytes of each input choose
the Kafka key (none, the stream id, or the bytes after a NUL).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    import atheris

    with atheris.instrument_imports():
        from rnnstream.events import decode_input_event  # noqa: F401  (instrumented)
        from tests.component.test_decoder_fuzz import _prepare_one

    def key_and_value(data: bytes) -> tuple[bytes | None, bytes]:
        if not data:
            return None, b""
        mode, value = data[0] % 3, data[1:]
        if mode == 0:
            return None, value
        if mode == 1:
            head, _, rest = value.partition(b"\0")
            return head, rest
        import json

        try:
            stream = json.loads(value).get("stream_id")
        except Exception:
            stream = None
        return (stream.encode("utf-8", "surrogatepass") if isinstance(stream, str) else b"k"), value

    def one_input(data: bytes) -> None:
        _prepare_one(*key_and_value(data))

    corpus_dir = ROOT / "var" / "fuzz-corpus"
    if not corpus_dir.exists():
        from tests.fuzz_corpus import corpus

        corpus_dir.mkdir(parents=True)
        for i, (key, value) in enumerate(corpus()):
            prefix = b"\x00" if key is None else b"\x01" + key + b"\x00"
            (corpus_dir / f"seed-{i:04d}").write_bytes(prefix + value)
    atheris.Setup([sys.argv[0], str(corpus_dir), *sys.argv[1:]], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
