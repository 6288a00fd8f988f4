"""``rnnstream bench``: a load generator and benchmark of the real pipeline.

N streams of audio-feature chunks (synthetic or from the bundled recordings) are produced to Kafka, once per
pipeline and each time on that pipeline's own topics, and every prediction is collected back:

* ``faust``: real ``rnnstream worker`` processes (the product);
* ``aiokafka``: the same step code (:class:`~rnnstream.worker.processor.BatchProcessor`) driven by a plain
  aiokafka consume → produce loop, without faust: the transport ceiling;
* ``naive``: one event at a time (Redis GET, ONNX Runtime with batch 1, Redis SET, send): what batching buys.

Modules: :mod:`.load` (streams and producing them), :mod:`.pipelines` and :mod:`.naive` (the three
pipelines), :mod:`.collector` (the prediction consumer), :mod:`.runner` (one run, start to clean-up) and
:mod:`.report` (figures, table, JSON).
"""

from rnnstream.bench.runner import BenchConfig, run_bench

__all__ = ["BenchConfig", "run_bench"]
