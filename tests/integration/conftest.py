"""Integration tests share the session's Redis: delete the keys of every namespace they made, and only those."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from rnnstream.localservices.cleanup import delete_keys
from tests.integration.worker_process import CREATED


@pytest.fixture(scope="session", autouse=True)
def _forget_test_keys(redis_url: str) -> Iterator[None]:
    yield
    for prefix in CREATED:
        asyncio.run(delete_keys(redis_url, prefix))
