"""Every metric the dashboard and the alert rules query is one the worker really exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rnnstream.worker.metrics import METRIC_NAMES
from tests.deploy.checking import DASHBOARD, KUBERNETES, RULES_FILE, CheckFailed, replace_in_file
from tests.deploy.kubernetes_checks import render_overlay
from tests.deploy.monitoring_checks import (
    check_dashboard,
    check_queries,
    dashboard_queries,
    exported_series,
    promql_references,
    rule_groups,
    rule_queries,
)

# What the dashboard must show (the deployment issue): each entry is a series some panel must query.
DASHBOARD_MUST_SHOW = {
    "throughput": "rnnstream_events_total",
    "predictions": "rnnstream_predictions_total",
    "latency quantiles": "rnnstream_latency_seconds_bucket",
    "batch sizes": "rnnstream_batch_events_bucket",
    "rows per ONNX call": "rnnstream_wave_rows_bucket",
    "waves per batch": "rnnstream_batch_waves_bucket",
    "dead letters": "rnnstream_dead_letters_total",
    "Redis time": "rnnstream_redis_seconds_bucket",
    "ONNX Runtime time": "rnnstream_onnx_seconds_bucket",
    "active streams": "rnnstream_active_streams",
    "consumer lag": "rnnstream_consumer_lag",
    "state losses": "rnnstream_state_epoch_changes_total",
    "state epoch per worker": "rnnstream_state_epoch_timestamp_seconds",
    "state cache hits": "rnnstream_state_cache_total",
}


def test_exported_series_cover_metric_names() -> None:
    exported = exported_series()
    for name in METRIC_NAMES:
        assert name in exported or f"{name}_bucket" in exported, name
    for labels in exported.values():
        assert not {"stream", "stream_id"} & labels


def test_dashboard_is_well_formed() -> None:
    check_dashboard(DASHBOARD)


def test_dashboard_queries_only_exported_metrics() -> None:
    check_queries(dashboard_queries(DASHBOARD))


def test_rule_file_queries_only_exported_metrics() -> None:
    check_queries(rule_queries(rule_groups(RULES_FILE), "rules"))


def test_prometheus_rule_queries_only_exported_metrics() -> None:
    (rule,) = [
        obj for obj in render_overlay(KUBERNETES / "overlays" / "prod") if obj["kind"] == "PrometheusRule"
    ]
    check_queries(rule_queries(rule["spec"]["groups"], "PrometheusRule"))


def test_dashboard_shows_what_operators_need() -> None:
    used = {name for expr in dashboard_queries(DASHBOARD).values() for name in promql_references(expr)[0]}
    missing = {what: name for what, name in DASHBOARD_MUST_SHOW.items() if name not in used}
    assert not missing
    exprs = " ".join(dashboard_queries(DASHBOARD).values())
    assert "sum by (reason)" in exprs  # dead letters by reason
    for quantile in ("0.5", "0.9", "0.99"):
        assert f"histogram_quantile({quantile}, sum by (le) (rate(rnnstream_latency_seconds_bucket" in exprs


@pytest.mark.parametrize(
    ("expr", "metrics", "grouping"),
    [
        ('up{job="rnnstream-worker"} == 0', {"up": {"job"}}, set()),
        (
            'histogram_quantile(0.99, sum by (model, le) (rate(rnnstream_latency_seconds_bucket{model=~"$m"}[5m])))',
            {"rnnstream_latency_seconds_bucket": {"model"}},
            {"model", "le"},
        ),
        (
            "sum by (reason) (rate(a_total[5m])) / scalar(sum(rate(b_total[$__rate_interval])))",
            {"a_total": set(), "b_total": set()},
            {"reason"},
        ),
        ("deriv(sum by (topic) (lag)[10m:1m]) > 1e3", {"lag": set()}, {"topic"}),
        ("label_values(rnnstream_model_info, model)", {"rnnstream_model_info": {"model"}}, set()),
        ('{__name__="x", job="y"}', {}, {"__name__", "job"}),
    ],
)
def test_promql_references(expr: str, metrics: dict[str, set[str]], grouping: set[str]) -> None:
    assert promql_references(expr) == (metrics, grouping)


# --- Deliberately broken queries must fail --------------------------------------------------------------------
def test_misspelled_metric_in_dashboard_fails(deploy_copy: Path) -> None:
    dashboard = deploy_copy / "deploy" / "grafana" / "dashboards" / "rnnstream.json"
    replace_in_file(dashboard, "rnnstream_dead_letters_total", "rnnstream_deadletters_total")
    with pytest.raises(CheckFailed, match="rnnstream_deadletters_total is not exported"):
        check_queries(dashboard_queries(dashboard))


def test_unknown_label_in_dashboard_fails(deploy_copy: Path) -> None:
    dashboard = deploy_copy / "deploy" / "grafana" / "dashboards" / "rnnstream.json"
    replace_in_file(dashboard, "sum by (reason)", "sum by (stream_id)")
    with pytest.raises(CheckFailed, match="stream_id"):
        check_queries(dashboard_queries(dashboard))


def test_unknown_metric_in_rules_fails(deploy_copy: Path) -> None:
    rules = deploy_copy / "deploy" / "prometheus" / "rules" / "rnnstream.rules.yml"
    replace_in_file(rules, "rnnstream_worker_ready == 0", "rnnstream_ready == 0")
    with pytest.raises(CheckFailed, match="rnnstream_ready is not exported"):
        check_queries(rule_queries(rule_groups(rules), "rules"))


def test_wrong_label_matcher_in_rules_fails(deploy_copy: Path) -> None:
    rules = deploy_copy / "deploy" / "prometheus" / "rules" / "rnnstream.rules.yml"
    replace_in_file(
        rules,
        "rate(rnnstream_latency_seconds_bucket[5m])",
        'rate(rnnstream_latency_seconds_bucket{op="x"}[5m])',
    )
    with pytest.raises(CheckFailed, match="has no label 'op'"):
        check_queries(rule_queries(rule_groups(rules), "rules"))


def test_histogram_without_suffix_fails(deploy_copy: Path) -> None:
    dashboard = deploy_copy / "deploy" / "grafana" / "dashboards" / "rnnstream.json"
    replace_in_file(dashboard, "rate(rnnstream_onnx_seconds_bucket", "rate(rnnstream_onnx_seconds")
    with pytest.raises(CheckFailed, match="rnnstream_onnx_seconds is not exported"):
        check_queries(dashboard_queries(dashboard))


def test_broken_dashboard_structure_fails(deploy_copy: Path) -> None:
    path = deploy_copy / "deploy" / "grafana" / "dashboards" / "rnnstream.json"
    dashboard = json.loads(path.read_text())
    dashboard["panels"][2]["id"] = dashboard["panels"][1]["id"]
    dashboard["panels"][3]["targets"][0].pop("refId")
    path.write_text(json.dumps(dashboard))
    with pytest.raises(CheckFailed) as caught:
        check_dashboard(path)
    assert "duplicate id" in str(caught.value)
    assert "refId" in str(caught.value)


def test_dashboard_that_is_not_json_fails(deploy_copy: Path) -> None:
    path = deploy_copy / "deploy" / "grafana" / "dashboards" / "rnnstream.json"
    path.write_text(path.read_text()[:-10])
    with pytest.raises(CheckFailed, match="not JSON"):
        check_dashboard(path)
