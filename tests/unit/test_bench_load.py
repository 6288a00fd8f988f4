"""The paced load generator keeps only the sends the broker has not acknowledged yet."""

from __future__ import annotations

import asyncio

import pytest

from rnnstream.bench.load import unacknowledged


async def test_acknowledged_sends_are_dropped_and_a_failed_one_raises() -> None:
    loop = asyncio.get_running_loop()
    done, waiting, failed = loop.create_future(), loop.create_future(), loop.create_future()
    done.set_result(None)
    assert unacknowledged([done, waiting]) == [waiting]
    failed.set_exception(RuntimeError("broker refused"))
    with pytest.raises(RuntimeError, match="broker refused"):
        unacknowledged([waiting, failed])
    waiting.cancel()
