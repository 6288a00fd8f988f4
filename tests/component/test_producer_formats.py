"""What the producers write, without a broker: the bench's load templates (v2 by default, v1 on request)
stamp ``produced_at_ms`` into the same bytes, and the client's chunks encode to the events the worker
decodes."""

from __future__ import annotations

import pytest

from rnnstream.bench.load import LoadSpec, Source, build_workload
from rnnstream.clients.audio_source import iter_audio_chunks
from rnnstream.clients.target import resolve_target
from rnnstream.clients.text_source import iter_text_chunks
from rnnstream.events import WireFormat, decode_event, encode_event
from rnnstream.events.binary import is_binary_event
from rnnstream.events.models import DEFAULT_MAX_CHUNK_STEPS, DEFAULT_MAX_EVENT_BYTES
from rnnstream.repository.reader import read_manifest
from rnnstream.samples import sample_recordings
from tests.paths import AUDIO_MODEL, TEXT_MODEL

LIMITS = {"max_bytes": DEFAULT_MAX_EVENT_BYTES, "max_steps": DEFAULT_MAX_CHUNK_STEPS}


def test_the_load_is_v2_by_default_and_v1_on_request_with_the_same_chunks() -> None:
    manifest = read_manifest(AUDIO_MODEL)
    spec = LoadSpec(streams=3, seconds=0.25, chunk_ms=100, source=Source.SYNTHETIC, seed=4, tag="t")
    v2 = build_workload(spec, manifest)
    v1 = build_workload(LoadSpec(3, 0.25, 100, Source.SYNTHETIC, 4, "t", wire_format=1), manifest)
    assert v2.total_chunks == v1.total_chunks == 9 and v2.stream_ids == v1.stream_ids
    for n, (a, b) in enumerate(zip(v2.events, v1.events, strict=True)):
        stamp = 1_764_201_600_000 + n
        raw2, raw1 = a.render(stamp), b.render(stamp)
        assert is_binary_event(raw2) and raw1.startswith(b"{")
        assert a.key == b.key
        event = decode_event(raw2, **LIMITS)
        assert event == decode_event(raw1, **LIMITS)
        assert event.produced_at_ms == stamp and event.stream_id.encode() == a.key
        assert event.steps == v2.frames_per_chunk and event.start == (n < 3) and event.end == (n >= 6)


@pytest.mark.parametrize("wire_format", [1, 2])
def test_client_chunks_encode_to_what_the_worker_decodes(wire_format: WireFormat) -> None:
    audio, text = resolve_target(str(AUDIO_MODEL)), resolve_target(str(TEXT_MODEL))
    path = sample_recordings()[0][0]
    chunks = list(iter_audio_chunks(path, "a-1", audio.log_mel, 10))
    decoded = [decode_event(encode_event(c.to_event(audio, 5), wire_format), **LIMITS) for c in chunks]
    assert [(e.seq, e.start, e.end, e.model, e.model_version) for e in decoded] == [
        (i, i == 0, i == len(chunks) - 1, audio.name, audio.version) for i in range(len(chunks))
    ]
    for chunk, event in zip(chunks, decoded, strict=True):
        assert chunk.frames is not None and event.frames is not None
        assert event.frames.tobytes() == chunk.frames.tobytes()
    tokens = [c.to_event(text, 5) for c in iter_text_chunks("Call now to claim", "t-1", 3)]
    got = [decode_event(encode_event(e, wire_format), **LIMITS) for e in tokens]
    assert [e.tokens for e in got] == [("call", "now", "to"), ("claim",)] and got == tokens
    assert all(e.kind == "tokens" and e.frames is None for e in got)
