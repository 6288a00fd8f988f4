"""Fault injection (in the spirit of Triton's L0_sequence_stress): real FSDD and SMS streams through three
workers on a real broker and a Redis with AOF while workers are SIGKILLed and restarted, frozen past the
session timeout, Redis is killed and restarted and (long run) the broker is frozen. The oracle
(``tests/chaos/oracle.py``) then checks that nothing was lost, nothing applied twice, re-emits are identical
and every stream equals the offline pass.

The small run (about two minutes) is part of ``make test``; the long one (``chaos_long``: 24 kills, two
freezes, a Redis restart and a broker freeze) runs with ``make chaos`` or ``pytest -m chaos_long``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.chaos.plans import PLANS
from tests.chaos.run import Outcome, run
from tests.paths import require_shared

pytestmark = [pytest.mark.services, pytest.mark.slow]


def _run(name: str, root: Path) -> tuple[Outcome, Counter[str]]:
    require_shared()
    outcome = run(PLANS[name], root, log=print)
    print(outcome.failover_line())
    print(outcome.summary)
    kinds = Counter(f.kind for f in outcome.faults)
    assert outcome.verdict.ok, "\n".join([outcome.summary, *outcome.verdict.problems])
    assert outcome.verdict.streams >= 50 and outcome.verdict.chunks >= 500  # it really streamed
    return outcome, kinds


def test_small_chaos_run_loses_nothing_and_applies_nothing_twice(tmp_path: Path) -> None:
    _, kinds = _run("small", tmp_path)
    assert kinds["kill"] >= 3 and kinds["restart"] >= 3
    assert kinds["freeze"] == kinds["thaw"] == 1
    assert kinds["redis-kill"] == kinds["redis-restart"] == 1


@pytest.mark.chaos_long
def test_long_chaos_run_loses_nothing_and_applies_nothing_twice(tmp_path: Path) -> None:
    _, kinds = _run("long", tmp_path)
    assert kinds["kill"] >= 20
    assert kinds["freeze"] == kinds["thaw"] == 2
    assert kinds["redis-restart"] == 1 and kinds["broker-freeze"] == kinds["broker-thaw"] == 1
