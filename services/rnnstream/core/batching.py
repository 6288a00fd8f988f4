"""Wave splitting and padding: how many streams' chunks share one model call.

Pure: values in, values out. A *wave* holds at most one chunk per stream, so every chunk in a wave starts
from its stream's state as stored before the wave; the next chunk of the same stream waits for the next
wave. Chunk ``i`` of a stream (counting that stream's earlier chunks in the batch) goes to wave ``i``, so
each stream's chunks keep their order and the number of waves is the longest run of one stream.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np


def wave_indices(keys: Sequence[Hashable]) -> list[list[int]]:
    """Positions of ``keys`` grouped into waves (ascending positions inside each wave)."""
    seen: dict[Hashable, int] = {}
    waves: list[list[int]] = []
    for position, key in enumerate(keys):
        wave = seen.get(key, 0)
        seen[key] = wave + 1
        if wave == len(waves):
            waves.append([])
        waves[wave].append(position)
    return waves


def pad_chunks(chunks: Sequence[np.ndarray], pad_value: float | int) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad chunks of shape ``[T, ...]`` into one batch ``[B, Tmax, ...]``.

    Returns the batch and the valid lengths (int32 ``[B]``). All chunks must share the dtype and the
    trailing shape (``[T, F]`` float frames, ``[T]`` int64 token ids) and have at least one step.
    """
    if not chunks:
        raise ValueError("no chunks to pad")
    first = chunks[0]
    if first.ndim < 1:
        raise ValueError("a chunk needs a time axis")
    for chunk in chunks:
        if chunk.dtype != first.dtype or chunk.shape[1:] != first.shape[1:]:
            raise ValueError(
                f"chunks differ: {chunk.dtype}{list(chunk.shape)} vs {first.dtype}{list(first.shape)}"
            )
        if chunk.shape[0] == 0:
            raise ValueError("a chunk has no steps")
    lengths = np.array([chunk.shape[0] for chunk in chunks], dtype=np.int32)
    batch = np.full((len(chunks), int(lengths.max()), *first.shape[1:]), pad_value, dtype=first.dtype)
    for row, chunk in enumerate(chunks):
        batch[row, : chunk.shape[0]] = chunk
    return batch, lengths
