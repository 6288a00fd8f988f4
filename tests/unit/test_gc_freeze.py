"""The worker's start-up freeze (``RNNSTREAM_GC_FREEZE``): once, everything alive then leaves the collector's
generations; later calls change nothing."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from rnnstream.gc_freeze import freeze_startup_objects
from rnnstream.worker.settings import WorkerSettings


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # leave the test process as it was


def test_the_first_call_freezes_and_later_ones_do_nothing(unfrozen: None) -> None:
    assert gc.get_freeze_count() == 0
    assert freeze_startup_objects()
    frozen = gc.get_freeze_count()
    assert frozen > 0
    born_later = [{"n": n} for n in range(10_000)]  # tracked objects a second freeze would take in
    assert not freeze_startup_objects()
    # A frozen object that loses its last reference is still freed, so the count may drop a little; a second
    # freeze would add the 10,000.
    assert gc.get_freeze_count() <= frozen
    del born_later  # alive until here


def test_it_is_on_by_default_and_pipelining_starts_at_a_full_batch() -> None:
    defaults = {name: f.default for name, f in WorkerSettings.model_fields.items()}
    assert defaults["gc_freeze"] is True
    assert defaults["pipeline_batches"] is True
    assert defaults["pipeline_min_events"] is None  # None: RNNSTREAM_BATCH_MAX_EVENTS
