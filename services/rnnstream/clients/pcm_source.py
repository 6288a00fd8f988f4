"""Audio files → packets of raw PCM samples, for a worker that runs the model's front-end itself.

Instead of computing log-mel frames (``audio_source``), a producer may send the recording as it is: its own
sample rate and channel count, cut into packets of ``packet_ms`` milliseconds (20 ms by default, as a
microphone or a VoIP stack delivers them), each one ``pcm`` chunk event (docs/events.md, "PCM audio"). The
worker mixes to mono, resamples and computes the frames; with ``segment="vad"`` it also cuts the stream
into utterances by voice activity, so a long recording is one continuous stream.

Packets hold ``round(packet_ms * rate / 1000)`` samples per channel (at least 1); every packet but the last
is full, the last carries ``end`` even when the file ends exactly on a packet boundary (one packet is held
back until it is known whether more samples follow); the first carries ``start``; ``seq`` counts 0, 1, 2,
... The samples of all packets, concatenated, are the file's samples: exactly so for a 16-bit PCM file sent
as ``s16le`` (the default encoding), rounded to 16 bits (and clipped to [-1, 1)) for other files sent as
``s16le``, as float32 for ``f32le``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile as sf

from rnnstream.clients.audio_source import BLOCK_SAMPLES, file_sources
from rnnstream.clients.chunks import Chunk, StreamSource
from rnnstream.errors import InputError, InputTooShortError
from rnnstream.events.chunk_event import PcmData, PcmEncoding, PcmSegment, pcm_data
from rnnstream.events.models import (
    DEFAULT_MAX_EVENT_BYTES,
    DEFAULT_MAX_PCM_MS,
    PCM_DTYPES,
    PCM_MAX_CHANNELS,
    PCM_MAX_RATE,
    PCM_MIN_RATE,
    PCM_S16_SCALE,
)
from rnnstream.features.audio import iter_audio_blocks

#: Audio per packet unless told otherwise, in milliseconds.
DEFAULT_PACKET_MS = 20.0
#: Bytes kept free in an event for its header and strings (stream id and model name: 256 bytes each at most).
_HEADER_ALLOWANCE = 1024


def samples_per_packet(packet_ms: float, sample_rate: int) -> int:
    """Samples per channel in ``packet_ms`` of audio at ``sample_rate``: ``round(ms * rate / 1000)``, at least
    1, at most what one event may carry (``DEFAULT_MAX_PCM_MS``). ``InputError`` for a length out of range."""
    if not 0 < packet_ms <= DEFAULT_MAX_PCM_MS:
        raise InputError(
            f"the packet length must be above 0 and at most {DEFAULT_MAX_PCM_MS} ms, got {packet_ms}"
        )
    return max(1, min(round(packet_ms * sample_rate / 1000), sample_rate * DEFAULT_MAX_PCM_MS // 1000))


def check_pcm_format(
    sample_rate: int, channels: int, packet_samples: int, encoding: PcmEncoding, *, what: str = "the audio"
) -> None:
    """``InputError`` when packets of this format cannot travel: a rate or channel count the format refuses,
    or packets larger than an event may be (``DEFAULT_MAX_EVENT_BYTES``)."""
    if encoding not in PCM_DTYPES:
        raise InputError(f"the PCM encoding must be s16le or f32le, got {encoding!r}")
    if not PCM_MIN_RATE <= sample_rate <= PCM_MAX_RATE:
        raise InputError(
            f"{what}: {sample_rate} Hz cannot be sent as PCM (the format takes {PCM_MIN_RATE} to "
            f"{PCM_MAX_RATE} Hz); resample it, or send frames (without --pcm)"
        )
    if not 1 <= channels <= PCM_MAX_CHANNELS:
        raise InputError(
            f"{what}: {channels} channels cannot be sent as PCM (the format takes 1 to {PCM_MAX_CHANNELS})"
        )
    size = packet_samples * channels * PCM_DTYPES[encoding].itemsize
    if size > DEFAULT_MAX_EVENT_BYTES - _HEADER_ALLOWANCE:
        raise InputError(
            f"{what}: a packet of {packet_samples} samples × {channels} channels in {encoding} is {size:,} "
            f"bytes, more than an event may hold ({DEFAULT_MAX_EVENT_BYTES:,}); use shorter packets"
        )


def wire_samples(samples: npt.ArrayLike, encoding: PcmEncoding) -> npt.NDArray[Any]:
    """``samples`` as the integers or floats :func:`~rnnstream.events.chunk_event.pcm_data` takes for
    ``encoding``: for s16le, integers stay as they are and floats (nominally in [-1, 1]) become
    ``x * 32768`` rounded and clipped to int16 (exact for audio that was 16-bit); for f32le, float32."""
    array = np.asarray(samples)
    if encoding == "s16le":
        if array.dtype.kind == "f":
            scaled = np.rint(np.asarray(array, dtype=np.float64) * PCM_S16_SCALE)
            return np.clip(scaled, -32768, 32767).astype(np.int16)
        return array
    return np.asarray(array, dtype=np.float32)


def to_pcm(
    samples: npt.ArrayLike,
    sample_rate: int,
    *,
    encoding: PcmEncoding = "s16le",
    segment: PcmSegment = "none",
) -> PcmData:
    """One packet's :class:`PcmData` from ``samples`` ``[n]`` or ``[n, channels]``: int16 or floats in
    [-1, 1] (see :func:`wire_samples`). ``InputError`` for what the format refuses."""
    try:
        return pcm_data(wire_samples(samples, encoding), sample_rate, encoding=encoding, segment=segment)
    except ValueError as exc:
        raise InputError(f"not PCM the format can carry: {exc}") from exc


def iter_pcm_chunks(
    path: Path | str,
    stream_id: str,
    *,
    packet_ms: float = DEFAULT_PACKET_MS,
    encoding: PcmEncoding = "s16le",
    segment: PcmSegment = "none",
    block_samples: int = BLOCK_SAMPLES,
) -> Iterator[Chunk]:
    """The PCM packets of one file, read block by block (see the module docstring).

    Raises :class:`InputError` (before yielding anything) for a format the events cannot carry or a file
    that cannot be read, and :class:`InputTooShortError` for a file without samples.
    """
    size = 0  # samples per packet, known with the first block's rate
    rate = channels = 0
    held: list[npt.NDArray[Any]] = []
    held_count = seq = sent = 0

    def take(count: int, end: bool) -> Chunk:
        nonlocal held, held_count, seq, sent
        buffered = np.concatenate(held) if len(held) > 1 else held[0]
        part, rest = buffered[:count], buffered[count:]
        held, held_count = ([rest] if len(rest) else []), len(rest)
        sent += count
        chunk = Chunk(
            stream_id=stream_id,
            seq=seq,
            start=seq == 0,
            end=end,
            due_s=sent / rate,
            pcm=pcm_data(part, rate, encoding=encoding, segment=segment),
        )
        seq += 1
        return chunk

    blocks = iter_audio_blocks(path, block_samples)
    while True:
        try:
            item = next(blocks, None)
        except (RuntimeError, OSError, ValueError) as exc:  # libsndfile and decoder errors
            raise InputError(f"{path}: cannot read audio ({exc})") from exc
        if item is None:
            break
        block, block_rate = item
        if not size:
            rate, channels = int(block_rate), int(block.shape[1])
            size = samples_per_packet(packet_ms, rate)
            check_pcm_format(rate, channels, size, encoding, what=str(path))
        if len(block):
            held.append(wire_samples(block, encoding))
            held_count += len(block)
        while held_count > size:  # strictly more: the last packet must stay behind for ``end``
            yield take(size, end=False)
    if seq == 0 and held_count == 0:
        raise InputTooShortError(f"{path}: no audio samples")
    while held_count:
        count = min(size, held_count)
        yield take(count, end=count == held_count)


def _header(path: Path) -> dict[str, Any]:
    try:
        info = sf.info(str(path))
    except (RuntimeError, OSError):
        return {}
    return {"sample_rate": int(info.samplerate), "channels": int(info.channels)}


def pcm_sources(
    paths: Iterable[Path | str],
    *,
    packet_ms: float = DEFAULT_PACKET_MS,
    encoding: PcmEncoding = "s16le",
    segment: PcmSegment = "none",
    stream_id: str | None = None,
) -> list[StreamSource]:
    """One :class:`StreamSource` of PCM packets per audio file (directories expanded), ids
    ``<stem>-<6 hex>`` by default; ``stream_id`` names the stream of a single file (with several it is an
    :class:`InputError`). Each report's ``extra`` holds the file and, when its header tells them, its
    ``sample_rate`` and ``channels``."""
    samples_per_packet(packet_ms, PCM_MIN_RATE)  # the length is checked now, not at the first file
    if encoding not in PCM_DTYPES:
        raise InputError(f"the PCM encoding must be s16le or f32le, got {encoding!r}")
    if segment not in ("none", "vad"):
        raise InputError(f"segment must be 'none' or 'vad', got {segment!r}")
    return file_sources(
        paths,
        lambda path, sid: partial(
            iter_pcm_chunks, path, sid, packet_ms=packet_ms, encoding=encoding, segment=segment
        ),
        stream_id=stream_id,
        extra=_header,
    )
