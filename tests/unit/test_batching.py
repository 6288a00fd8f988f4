"""Wave splitting and chunk padding."""

from __future__ import annotations

import numpy as np
import pytest

from rnnstream.core.batching import pad_chunks, wave_indices


def split_waves(items: list[tuple[int | str, int]]) -> list[list[tuple[int | str, int]]]:
    """The items of each wave, as the step groups chunks by stream (the first field)."""
    return [[items[i] for i in wave] for wave in wave_indices([stream for stream, _ in items])]


def test_waves_of_a_small_batch() -> None:
    items = [("a", 0), ("b", 0), ("a", 1), ("c", 0), ("a", 2), ("b", 1)]
    waves = split_waves(items)
    assert waves == [[("a", 0), ("b", 0), ("c", 0)], [("a", 1), ("b", 1)], [("a", 2)]]


def test_empty_and_distinct() -> None:
    assert wave_indices([]) == []
    assert wave_indices(["x", "y", "z"]) == [[0, 1, 2]]
    assert wave_indices(["x", "x", "x"]) == [[0], [1], [2]]


@pytest.mark.parametrize("seed", range(20))
def test_order_property_on_random_interleavings(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_streams = int(rng.integers(1, 8))
    per_stream = rng.integers(1, 6, size=n_streams)
    keys = np.repeat(np.arange(n_streams), per_stream)
    rng.shuffle(keys)
    items = [(int(stream), i) for i, stream in enumerate(keys)]

    waves = split_waves(items)

    flat = [item for wave in waves for item in wave]
    assert sorted(flat) == sorted(items)  # every item exactly once
    assert len(waves) == int(per_stream.max())
    for number, wave in enumerate(waves):
        streams = [stream for stream, _ in wave]
        assert len(streams) == len(set(streams))  # a stream at most once per wave
        assert [pos for _, pos in wave] == sorted(pos for _, pos in wave)  # input order inside a wave
        for stream, pos in wave:  # item i of a stream goes into wave i
            assert sum(1 for s, p in items if s == stream and p < pos) == number
    for stream in range(n_streams):  # each stream's items keep their relative order
        in_input = [pos for s, pos in items if s == stream]
        in_waves = [pos for wave in waves for s, pos in wave if s == stream]
        assert in_waves == in_input


def test_pad_float_frames() -> None:
    a = np.arange(6, dtype=np.float32).reshape(3, 2)
    b = np.full((1, 2), 7.0, dtype=np.float32)
    batch, lengths = pad_chunks([a, b], pad_value=0.0)
    assert batch.dtype == np.float32 and batch.shape == (2, 3, 2)
    assert lengths.dtype == np.int32 and lengths.tolist() == [3, 1]
    np.testing.assert_array_equal(batch[0], a)
    np.testing.assert_array_equal(batch[1], [[7.0, 7.0], [0.0, 0.0], [0.0, 0.0]])


def test_pad_token_ids() -> None:
    chunks = [np.array([5, 6], dtype=np.int64), np.array([1, 2, 3, 4], dtype=np.int64)]
    batch, lengths = pad_chunks(chunks, pad_value=0)
    assert batch.dtype == np.int64
    assert batch.tolist() == [[5, 6, 0, 0], [1, 2, 3, 4]]
    assert lengths.tolist() == [2, 4]


@pytest.mark.parametrize(
    "chunks",
    [
        [],
        [np.zeros((0, 2), dtype=np.float32)],
        [np.zeros((2, 2), dtype=np.float32), np.zeros((2, 3), dtype=np.float32)],
        [np.zeros((2, 2), dtype=np.float32), np.zeros((2, 2), dtype=np.float64)],
        [np.float32(1.0) * np.ones(())],
    ],
)
def test_pad_rejects_bad_chunks(chunks: list[np.ndarray]) -> None:
    with pytest.raises(ValueError):
        pad_chunks(chunks, pad_value=0.0)
