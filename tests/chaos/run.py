"""One chaos run: start the system, run a plan's faults while real streams flow, then judge the record."""

from __future__ import annotations

import asyncio
import random
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rnnstream.runtime.session import OnnxModel
from tests.chaos.cluster import Cluster, Fault
from tests.chaos.load import Load, Material, Record
from tests.chaos.oracle import (
    Verdict,
    failovers,
    judge,
    model_paths,
    read_stored,
    summary_line,
)
from tests.chaos.plans import Plan
from tests.chaos.topics import topic_positions


@dataclass
class Outcome:
    plan: str
    verdict: Verdict
    record: Record
    faults: list[Fault]
    summary: str
    failover_s: list[float | None] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def failover_line(self) -> str:
        known = [f for f in self.failover_s if f is not None]
        never = len(self.failover_s) - len(known)
        if not known:
            return f"failover: {len(self.failover_s)} kills, none measured"
        return (
            f"failover (kill -> the last partition stall it caused ends): kills={len(self.failover_s)} "
            f"median_s={statistics.median(known):.1f} max_s={max(known):.1f} never={never} "
            f"each_s={','.join(f'{x:.1f}' if x is not None else 'never' for x in self.failover_s)}"
        )


def run(plan: Plan, root: Path, *, log: Callable[[str], None] = print) -> Outcome:
    material = Material.shared(plan.recordings, plan.messages, plan.seed)
    models = {kind: OnnxModel(path) for kind, path in model_paths().items()}
    versions = {kind: (m.name, m.version) for kind, m in models.items()}
    cluster = Cluster(root, workers=plan.workers, partitions=plan.partitions, worker_env=plan.env)
    started = time.monotonic()
    failure: list[BaseException] = []
    try:
        cluster.start()
        log(
            f"{plan.name}: broker {cluster.bootstrap}, Redis {cluster.redis_url}, {plan.workers} workers ready"
        )
        ns = cluster.namespace
        load = Load(cluster.bootstrap, ns.input, ns.predictions, material, max_active=plan.max_active)

        def faults() -> None:
            try:
                plan.script(cluster, random.Random(plan.seed), log)
            except BaseException as exc:
                failure.append(exc)
            finally:
                load.stop.set()

        thread = threading.Thread(target=faults, name="chaos-faults", daemon=True)
        thread.start()
        record = asyncio.run(load.run())
        thread.join()
        if failure:
            raise failure[0]
        stored = asyncio.run(read_stored(cluster.redis_url, ns.key_prefix, record, versions))
        fenced = cluster.counted("fenced")
        inputs = asyncio.run(topic_positions(cluster.bootstrap, ns.input))
        published = asyncio.run(topic_positions(cluster.bootstrap, ns.predictions))
    finally:
        cluster.close()
    duration = time.monotonic() - started
    verdict = judge(record, models, stored, inputs, cluster.faults)
    unread = published.keys() - record.distinct()
    if unread:  # the topic has predictions the live reader never saw: a reader problem, not a worker one
        verdict.reader_missed = len(unread)
        verdict.note(f"the reader missed {len(unread)} published predictions, e.g. {sorted(unread)[:3]}")
    outcome = Outcome(
        plan.name,
        verdict,
        record,
        list(cluster.faults),
        summary_line(verdict, cluster.faults, record, duration, plan.partitions)
        + f" fenced_writes={fenced} zombie_fenced={cluster.zombie_fenced}",
        failovers(record, cluster.faults, plan.partitions, cluster.session_timeout_s),
        cluster.logs(),
    )
    return outcome
