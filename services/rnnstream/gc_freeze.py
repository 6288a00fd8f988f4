"""Moving a long-running process's start-up objects out of the garbage collector's reach.

A full collection walks every tracked object; in a process that has loaded faust, aiokafka, onnxruntime,
pydantic and its models, that took about 100 ms of a stopped event loop, every few seconds under load
(docs/benchmarks.md, "Real-time latency (issue 9, second pass)"). After one collection, ``gc.freeze`` moves
what is alive into a permanent generation that later collections skip. The worker calls it at its first
partition assignment (``RNNSTREAM_GC_FREEZE``), the bench once its load is built.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger("rnnstream")


def freeze_startup_objects() -> bool:
    """The first time: collect, then move every object alive now out of the collector's reach. True when it
    froze (later calls do nothing)."""
    if gc.get_freeze_count():
        return False
    gc.collect()
    gc.freeze()
    log.info("start-up objects frozen out of the garbage collector: %d", gc.get_freeze_count())
    return True
