"""Audio files → chunks of log-mel frames, computed with the shared streaming front-end as the file is read.

A file is read in blocks (any format soundfile or librosa opens, any rate, any channel count), each block is
pushed through :class:`~rnnstream.features.audio.FeatureStream`, and every ``frames_per_chunk`` frames become
one chunk. The last chunk of a file carries ``end`` even when the file ends exactly on a chunk boundary
(one chunk is held back until it is known whether more frames follow); the first carries ``start``; ``seq``
counts 0, 1, 2, ... The frames of all chunks, concatenated, are exactly
:func:`~rnnstream.features.audio.file_features` of the file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from rnnstream.clients.chunks import Chunk, StreamSource, new_stream_id
from rnnstream.errors import InputError, InputTooShortError
from rnnstream.features.audio import FeatureStream, Frames, iter_audio_blocks
from rnnstream.repository.manifest import LogMelConfig

#: File name endings taken from a directory (case-insensitive).
AUDIO_SUFFIXES = frozenset(
    {
        ".wav",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".mp3",
        ".aif",
        ".aiff",
        ".aifc",
        ".au",
        ".caf",
        ".w64",
        ".m4a",
    }
)
#: Samples read per block; small enough to keep memory flat, large enough to keep the overhead low.
BLOCK_SAMPLES = 8192


def frames_per_chunk(chunk_ms: float, cfg: LogMelConfig) -> int:
    """Frames in ``chunk_ms`` of audio: ``chunk_ms * sample_rate / 1000 / hop``, rounded, at least 1."""
    if chunk_ms <= 0:
        raise InputError(f"the chunk length must be positive, got {chunk_ms} ms")
    return max(1, round(chunk_ms * cfg.sample_rate / 1000 / cfg.hop_length))


def iter_audio_chunks(
    path: Path | str,
    stream_id: str,
    cfg: LogMelConfig,
    chunk_frames: int,
    *,
    block_samples: int = BLOCK_SAMPLES,
) -> Iterator[Chunk]:
    """The chunks of one file, computed while it is read.

    Raises :class:`InputTooShortError` (before yielding anything) when not one frame fits, and
    :class:`InputError` when the file cannot be read.
    """
    if chunk_frames < 1:
        raise InputError(f"a chunk needs at least one frame, got {chunk_frames}")
    stream: FeatureStream | None = None
    held: list[Frames] = []
    held_count = seq = 0

    def take(count: int, end: bool) -> Chunk:
        nonlocal held, held_count, seq
        frames = np.concatenate(held) if len(held) > 1 else held[0]
        chunk_part, rest = frames[:count], frames[count:]
        held, held_count = ([rest] if len(rest) else []), len(rest)
        first_frame = seq * chunk_frames  # every chunk but the last is full
        last_end = (first_frame + count - 1) * cfg.hop_length + cfg.n_fft
        chunk = Chunk(
            stream_id=stream_id,
            seq=seq,
            start=seq == 0,
            end=end,
            frames=np.ascontiguousarray(chunk_part, dtype=np.float32),
            due_s=last_end / cfg.sample_rate,
        )
        seq += 1
        return chunk

    try:
        for block, rate in iter_audio_blocks(path, block_samples):
            if stream is None:
                stream = FeatureStream(cfg, rate)
            frames = stream.push(block)
            if len(frames):
                held.append(frames)
                held_count += len(frames)
            while held_count > chunk_frames:  # strictly more: the last chunk must stay behind for ``end``
                yield take(chunk_frames, end=False)
        tail = stream.flush() if stream is not None else np.zeros((0, cfg.n_mels), np.float32)
    except (RuntimeError, OSError, ValueError) as exc:  # libsndfile and decoder errors, not ours
        raise InputError(f"{path}: cannot read audio ({exc})") from exc
    if len(tail):
        held.append(tail)
        held_count += len(tail)
    if seq == 0 and held_count == 0:
        need_ms = cfg.n_fft / cfg.sample_rate * 1000
        raise InputTooShortError(f"{path}: audio too short: one frame needs {need_ms:.0f} ms")
    while held_count:
        count = min(chunk_frames, held_count)
        yield take(count, end=count == held_count)


def audio_duration(path: Path | str) -> float | None:
    """The duration in seconds when the header tells it (for progress), else ``None``."""
    try:
        info = sf.info(str(path))
    except (RuntimeError, OSError):
        return None
    return float(info.frames) / info.samplerate if info.samplerate else None


def expand_audio_paths(paths: Iterable[Path | str]) -> list[Path]:
    """Files as given; a directory becomes its audio files (by suffix, sorted by name, not recursive).

    Raises :class:`InputError` for a path that does not exist or a directory without audio files.
    """
    found: list[Path] = []
    for item in map(Path, paths):
        if item.is_dir():
            files = sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
            if not files:
                suffixes = " ".join(sorted(AUDIO_SUFFIXES))
                raise InputError(f"{item}: no audio files in this directory (looked for {suffixes})")
            found.extend(files)
        elif item.is_file():
            found.append(item)
        else:
            raise InputError(f"{item}: no such file or directory")
    return found


def audio_sources(
    paths: Iterable[Path | str], cfg: LogMelConfig, chunk_frames: int, *, stream_id: str | None = None
) -> list[StreamSource]:
    """One :class:`StreamSource` per audio file (directories expanded); ids ``<stem>-<6 hex>`` by default.

    ``stream_id`` names the stream of a single file; with several files it is an :class:`InputError`.
    """
    return file_sources(
        paths,
        lambda path, sid: partial(iter_audio_chunks, path, sid, cfg, chunk_frames),
        stream_id=stream_id,
    )


def file_sources(
    paths: Iterable[Path | str],
    opener: Callable[[Path, str], Callable[[], Iterator[Chunk]]],
    *,
    stream_id: str | None = None,
    extra: Callable[[Path], dict[str, Any]] = lambda path: {},
) -> list[StreamSource]:
    """One :class:`StreamSource` per audio file (directories expanded): ``opener(path, stream_id)`` makes its
    chunks; ids ``<stem>-<6 hex>`` unless ``stream_id`` names the stream of a single file (with several files
    it is an :class:`InputError`). Each report's ``extra`` holds the file and ``extra(path)``."""
    files = expand_audio_paths(paths)
    if stream_id is not None and len(files) != 1:
        raise InputError(f"--stream-id names one stream, but {len(files)} files were given")
    sources = []
    for path in files:
        sid = stream_id if stream_id is not None else new_stream_id(path.stem or "audio")
        sources.append(
            StreamSource(
                stream_id=sid,
                label=str(path),
                open=opener(path, sid),
                duration_s=audio_duration(path),
                extra={"file": str(path), **extra(path)},
            )
        )
    return sources
