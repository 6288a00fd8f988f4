"""``rnnstream bench``: a load generator and benchmark of the real pipeline.

N streams of audio-feature chunks (synthetic or from the bundled recordings) are produced to Kafka, once per
pipeline and each time on that pipeline's own topics, and every prediction is collected back:

* ``faust``: real ``rnnstream worker`` processes (the product);
* ``aiokafka``: the same step code (:class:`~rnnstream.worker.processor.BatchProcessor`) driven by a plain
  aiokafka consume → produce loop, without faust: the transport ceiling;
* ``quix``: the step as a Quix Streams user would write it (per message, state in Quix's RocksDB store), in
  its own process: what a user would pick instead (needs the ``peer`` extra);
* ``naive``: one event at a time (Redis GET, ONNX Runtime with batch 1, Redis SET, send): what batching buys.

Modules: :mod:`.load` (streams and producing them), :mod:`.pipelines`, :mod:`.inprocess`, :mod:`.quix` with
:mod:`.quix_app`, and :mod:`.naive` (the pipelines), :mod:`.collector` (the prediction consumer),
:mod:`.runner` (one run, start to clean-up) and :mod:`.report` (figures, table, JSON).

``BenchConfig`` and ``run_bench`` are imported on first use, so ``python -m rnnstream.bench.quix_app`` loads
only what the Quix app needs (its process's memory is measured).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rnnstream.bench.runner import BenchConfig, run_bench

__all__ = ["BenchConfig", "run_bench"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from rnnstream.bench import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
