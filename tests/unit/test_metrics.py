"""WorkerMetrics: each metric registers in a fresh registry, shows in the exposition, has no stream label."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from rnnstream.worker.metrics import LATENCY_BUCKETS, METRIC_NAMES, ActiveStreams, WorkerMetrics, observe_many


def _family_name(name: str) -> str:
    return name.removesuffix("_total")


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


EXPECTED_TYPES = {
    "rnnstream_events_total": "counter",
    "rnnstream_predictions_total": "counter",
    "rnnstream_dead_letters_total": "counter",
    "rnnstream_errors_total": "counter",
    "rnnstream_batch_events": "histogram",
    "rnnstream_wave_rows": "histogram",
    "rnnstream_batch_waves": "histogram",
    "rnnstream_onnx_seconds": "histogram",
    "rnnstream_redis_seconds": "histogram",
    "rnnstream_latency_seconds": "histogram",
    "rnnstream_active_streams": "gauge",
    "rnnstream_model_info": "gauge",
    "rnnstream_consumer_lag": "gauge",
    "rnnstream_worker_ready": "gauge",
    "rnnstream_state_epoch_changes_total": "counter",
    "rnnstream_state_epoch_timestamp_seconds": "gauge",
    "rnnstream_state_cache_total": "counter",
    "rnnstream_state_cache_entries": "gauge",
}


def test_every_metric_shows_in_a_fresh_registry() -> None:
    registry = CollectorRegistry()
    WorkerMetrics(registry)
    text = generate_latest(registry).decode()
    assert set(METRIC_NAMES) == set(EXPECTED_TYPES)
    for name, kind in EXPECTED_TYPES.items():
        assert f"# TYPE {name} {kind}\n" in text, name
    families = {family.name for family in registry.collect()}
    assert families == {_family_name(name) for name in METRIC_NAMES}


def test_two_instances_do_not_collide() -> None:
    WorkerMetrics(CollectorRegistry())
    WorkerMetrics(CollectorRegistry())


def test_registering_twice_in_one_registry_fails() -> None:
    registry = CollectorRegistry()
    WorkerMetrics(registry)
    with pytest.raises(ValueError):
        WorkerMetrics(registry)


def test_values_and_labels() -> None:
    registry = CollectorRegistry()
    clock = FakeClock(100.0)
    metrics = WorkerMetrics(registry, clock=clock)
    metrics.count_events("fsdd_gru", "accepted", 3)
    metrics.count_events("fsdd_gru", "fenced")
    metrics.count_prediction("fsdd_gru", final=True)
    metrics.count_dead_letter("gap")
    metrics.count_error("publish")
    metrics.observe_redis("load", 0.002)
    assert metrics.observe_latency("fsdd_gru", produced_at_s=99.75) == pytest.approx(0.25)
    assert metrics.observe_latency("fsdd_gru", produced_at_s=101.0) == 0.0
    metrics.set_model_info("fsdd_gru", version="1", task="audio", cell="gru")
    metrics.set_consumer_lag("rnnstream.events", 3, highwater=120, committed=100)
    metrics.set_ready(True)
    metrics.count_state_epoch_change()
    metrics.set_state_epoch("a" * 32, 1_700_000_000.5)
    metrics.set_state_epoch("b" * 32, 1_700_000_100.0)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("rnnstream_events_total", model="fsdd_gru", outcome="accepted") == 3
    assert value("rnnstream_events_total", model="fsdd_gru", outcome="fenced") == 1
    assert value("rnnstream_predictions_total", model="fsdd_gru", final="true") == 1
    assert value("rnnstream_dead_letters_total", reason="gap") == 1
    assert value("rnnstream_errors_total", stage="publish") == 1
    assert value("rnnstream_redis_seconds_count", op="load") == 1
    assert value("rnnstream_latency_seconds_count", model="fsdd_gru") == 2
    assert value("rnnstream_latency_seconds_bucket", model="fsdd_gru", le="0.25") == 2
    assert value("rnnstream_model_info", model="fsdd_gru", version="1", task="audio", cell="gru") == 1
    assert value("rnnstream_consumer_lag", topic="rnnstream.events", partition="3") == 20
    assert value("rnnstream_worker_ready") == 1
    assert value("rnnstream_state_epoch_changes_total") == 1
    assert value("rnnstream_state_epoch_timestamp_seconds", epoch="a" * 32) is None  # replaced
    assert value("rnnstream_state_epoch_timestamp_seconds", epoch="b" * 32) == 1_700_000_100.0

    metrics.clear_consumer_lag("rnnstream.events", 3)
    metrics.clear_consumer_lag("rnnstream.events", 3)
    assert value("rnnstream_consumer_lag", topic="rnnstream.events", partition="3") is None


def _histogram_samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def test_observe_many_counts_exactly_what_one_observe_per_value_counts() -> None:
    # every bound, just below and above it, zero, and values past the last finite bound
    values = [0.0, 1e-9, 123.0]
    for bound in LATENCY_BUCKETS:
        values += [bound, bound * (1 - 1e-12), bound * (1 + 1e-12)]
    by_one, at_once = CollectorRegistry(), CollectorRegistry()
    one, many = WorkerMetrics(by_one), WorkerMetrics(at_once)
    for value in values:
        one.latency_seconds.labels(model="m").observe(value)
    observe_many(many.latency_seconds.labels(model="m"), values)
    observe_many(many.latency_seconds.labels(model="m"), [])
    expected, got = _histogram_samples(by_one), _histogram_samples(at_once)
    total = ("rnnstream_latency_seconds_sum", (("model", "m"),))
    assert got.pop(total) == pytest.approx(expected.pop(total))  # the same values, summed in another order
    assert got == expected
    assert at_once.get_sample_value("rnnstream_latency_seconds_count", {"model": "m"}) == len(values)


def test_observe_many_falls_back_to_observe_without_the_histograms_internals() -> None:
    class Plain:
        def __init__(self) -> None:
            self.seen: list[float] = []

        def observe(self, value: float) -> None:
            self.seen.append(value)

    plain = Plain()
    observe_many(plain, [0.5, 0.25])  # type: ignore[arg-type]
    assert plain.seen == [0.5, 0.25]


def test_observe_latencies_observes_each_predictions_latency() -> None:
    clock = FakeClock(100.0)
    by_one, at_once = CollectorRegistry(), CollectorRegistry()
    one, many = WorkerMetrics(by_one, clock=clock), WorkerMetrics(at_once, clock=clock)
    produced_ms = [99_990, 99_750, 98_000, 100_500, 40_000]  # 10 ms, 250 ms, 2 s, ahead of us (0), 60 s
    for ms in produced_ms:
        one.latency_seconds.labels(model="m").observe(max(0.0, 100_000 - ms) / 1000)
    many.observe_latencies("m", produced_ms)
    many.observe_latencies("m", [])
    expected, got = _histogram_samples(by_one), _histogram_samples(at_once)
    total = ("rnnstream_latency_seconds_sum", (("model", "m"),))
    assert got.pop(total) == pytest.approx(expected.pop(total))  # the same values, summed in another order
    assert got == expected
    assert at_once.get_sample_value("rnnstream_latency_seconds_bucket", {"model": "m", "le": "0.01"}) == 2


def test_closed_label_sets_are_enforced() -> None:
    metrics = WorkerMetrics(CollectorRegistry())
    with pytest.raises(ValueError):
        metrics.count_events("m", "lost")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        metrics.count_error("io")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        metrics.observe_redis("scan", 0.1)  # type: ignore[arg-type]


def test_no_metric_is_labelled_by_stream() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    metrics.count_events("m", "accepted")
    metrics.observe_latency("m", 0.0)
    streams = ActiveStreams(metrics, ttl_s=60)
    streams.touch("m", "stream-1")
    streams.refresh()
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            assert not {"stream", "stream_id", "key"} & set(sample.labels), sample


def test_active_streams_expire_after_ttl() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    clock = FakeClock(0.0)
    streams = ActiveStreams(metrics, ttl_s=10, clock=clock)
    streams.touch("a", "s1")
    clock.now = 5
    streams.touch("a", "s2")
    streams.touch("b", "s3")
    streams.refresh()
    assert registry.get_sample_value("rnnstream_active_streams", {"model": "a"}) == 2
    clock.now = 12
    streams.touch("a", "s2")
    streams.refresh()
    assert registry.get_sample_value("rnnstream_active_streams", {"model": "a"}) == 1
    assert registry.get_sample_value("rnnstream_active_streams", {"model": "b"}) == 1
    streams.forget("a", "s2")
    clock.now = 16
    streams.refresh()
    assert registry.get_sample_value("rnnstream_active_streams", {"model": "a"}) == 0
    assert registry.get_sample_value("rnnstream_active_streams", {"model": "b"}) == 0
    with pytest.raises(ValueError):
        ActiveStreams(metrics, ttl_s=0)
