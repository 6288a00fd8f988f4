"""Fault plans: what is done to the system, when. Each plan is a function run in its own thread while the
load runs; the load stops when the plan returns. Victims are picked with a seeded generator."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.chaos.cluster import Cluster

Log = Callable[[str], None]
Script = Callable[[Cluster, random.Random, Log], None]


@dataclass(frozen=True)
class Plan:
    """A named fault script and the system it runs against."""

    name: str
    script: Script
    workers: int = 3
    partitions: int = 6
    max_active: int = 6
    recordings: int = 60
    messages: int = 60
    seed: int = 12
    env: dict[str, str] = field(default_factory=dict)


def _kill_and_restart(c: Cluster, rng: random.Random, log: Log, down_s: float = 1.0) -> None:
    slot = rng.choice(c.alive())
    c.kill(slot)
    log(f"killed worker {slot}")
    time.sleep(down_s)
    c.restart(slot)


def small(c: Cluster, rng: random.Random, log: Log) -> None:
    """Three SIGKILLs (restarted), one freeze past the session timeout (caught during a 1.5 s broker pause, so
    the worker most likely holds a batch it will try to store late), one Redis restart: about 80 s."""
    time.sleep(8)
    _kill_and_restart(c, rng, log, 2.0)
    time.sleep(10)
    _kill_and_restart(c, rng, log, 0.5)
    time.sleep(10)
    slot = rng.choice(c.alive())
    log(f"freezing worker {slot} (caught during a broker pause)")
    c.freeze_as_zombie(slot, _freeze_s(c))
    time.sleep(8)
    log("restarting Redis")
    c.restart_redis(down_s=3.0)
    time.sleep(10)
    _kill_and_restart(c, rng, log, 1.0)
    time.sleep(12)


def long(c: Cluster, rng: random.Random, log: Log) -> None:
    """24 SIGKILLs (two of them doubles), two worker freezes (one caught during a broker pause), a Redis
    restart, a broker freeze past the session timeout: about 4.5 min."""
    time.sleep(8)
    for i in range(1, 23):
        time.sleep(rng.uniform(3.0, 7.0))
        if i in (6, 14):
            slot = rng.choice(c.alive())
            log(f"freezing worker {slot}" + (" (caught during a broker pause)" if i == 6 else ""))
            if i == 6:
                c.freeze_as_zombie(slot, _freeze_s(c))
            else:
                c.freeze(slot, _freeze_s(c))
            time.sleep(5)
        if i == 10:
            log("restarting Redis")
            c.restart_redis(down_s=3.0)
            time.sleep(5)
        if i == 18:
            log("freezing the broker")
            c.freeze_broker(_freeze_s(c) + 2)
            time.sleep(5)
        if i in (8, 16):  # two at once: one worker of three is left
            first, second = rng.sample(c.alive(), 2)
            c.kill(first)
            c.kill(second)
            log(f"killed workers {first} and {second}")
            time.sleep(1.0)
            c.restart(first)
            c.restart(second)
        else:
            _kill_and_restart(c, rng, log, rng.uniform(0.2, 3.0))
    time.sleep(15)


def failover(c: Cluster, rng: random.Random, log: Log) -> None:
    """Two workers; three times: SIGKILL one, let the other take over alone for 20 s, start it again."""
    time.sleep(12)
    for _ in range(3):
        slot = rng.choice(c.alive())
        c.kill(slot)
        log(f"killed worker {slot}")
        time.sleep(20)
        c.restart(slot)
        time.sleep(20)


def burst(c: Cluster, rng: random.Random, log: Log) -> None:
    """Three workers; five SIGKILLs 2 s apart, each victim restarted at once."""
    time.sleep(15)
    for _ in range(5):
        _kill_and_restart(c, rng, log, 0.0)
        time.sleep(2.0)
    time.sleep(40)


def _freeze_s(c: Cluster) -> float:
    """Past the session timeout: long enough for the group to throw the frozen member out."""
    return c.session_timeout_s + 4.0


PLANS = {
    "small": Plan("small", small),
    "long": Plan("long", long, recordings=150, messages=150),
    "failover": Plan("failover", failover, workers=2),
    "burst": Plan("burst", burst),
}
