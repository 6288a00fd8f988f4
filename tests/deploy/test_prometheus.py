"""promtool: the compose Prometheus config, the alert rules (both copies) and the rules' unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.deploy.checking import (
    KUBERNETES,
    PROMETHEUS_CONFIG,
    RULE_TESTS,
    RULES_FILE,
    CheckFailed,
    promtool,
    replace_in_file,
)
from tests.deploy.kubernetes_checks import render_overlay
from tests.deploy.monitoring_checks import (
    promtool_check_config,
    promtool_check_rules,
    promtool_test_rules,
    rule_groups,
)

REQUIRED_ALERTS = {
    "RnnstreamWorkerDown",  # worker down
    "RnnstreamNoWorkerUp",
    "RnnstreamConsumerLagGrowing",  # lag growth
    "RnnstreamDeadLetterRateHigh",  # dead-letter rate
    "RnnstreamLatencyHigh",  # latency
    "RnnstreamStateLost",  # the state store's epoch changed
}


def test_promtool_is_installed() -> None:
    assert promtool()


def test_config_is_valid() -> None:
    promtool_check_config(PROMETHEUS_CONFIG)


def test_rules_are_valid() -> None:
    promtool_check_rules(RULES_FILE)


def test_rules_pass_their_unit_tests() -> None:
    promtool_test_rules(RULE_TESTS)


def test_prometheus_rule_resource_is_valid(tmp_path: Path) -> None:
    """The PrometheusRule the operator loads, extracted from the rendered prod overlay."""
    (rule,) = [
        obj for obj in render_overlay(KUBERNETES / "overlays" / "prod") if obj["kind"] == "PrometheusRule"
    ]
    extracted = tmp_path / "prometheusrule.yml"
    extracted.write_text(yaml.safe_dump(rule["spec"]))
    promtool_check_rules(extracted)


def test_required_alerts_exist() -> None:
    alerts = {rule.get("alert") for group in rule_groups(RULES_FILE) for rule in group["rules"]}
    assert alerts >= REQUIRED_ALERTS
    for group in rule_groups(RULES_FILE):
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
            assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]


def test_every_alert_has_a_unit_test() -> None:
    tested = {
        case["alertname"]
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    alerts = {rule["alert"] for group in rule_groups(RULES_FILE) for rule in group["rules"]}
    assert alerts == tested


# --- Deliberately broken copies must fail ---------------------------------------------------------------------
def test_syntax_error_in_a_rule_fails(deploy_copy: Path) -> None:
    rules = deploy_copy / "deploy" / "prometheus" / "rules" / "rnnstream.rules.yml"
    replace_in_file(rules, "(rate(rnnstream_errors_total[5m]))", "(rate(rnnstream_errors_total[5m])")
    with pytest.raises(CheckFailed, match="promtool check rules"):
        promtool_check_rules(rules)


def test_bad_duration_in_a_rule_fails(deploy_copy: Path) -> None:
    rules = deploy_copy / "deploy" / "prometheus" / "rules" / "rnnstream.rules.yml"
    replace_in_file(rules, "for: 2m", "for: two minutes")
    with pytest.raises(CheckFailed):
        promtool_check_rules(rules)


def test_bad_config_fails(deploy_copy: Path) -> None:
    config = deploy_copy / "deploy" / "prometheus" / "prometheus.yml"
    replace_in_file(config, "scrape_interval: 5s", "scrape_interval: often")
    with pytest.raises(CheckFailed, match="promtool check config"):
        promtool_check_config(config)


def test_config_with_a_broken_rule_file_fails(deploy_copy: Path) -> None:
    rules = deploy_copy / "deploy" / "prometheus" / "rules" / "rnnstream.rules.yml"
    replace_in_file(rules, "== 0", "=== 0")
    with pytest.raises(CheckFailed):
        promtool_check_config(deploy_copy / "deploy" / "prometheus" / "prometheus.yml")


def test_changed_threshold_fails_the_rule_tests(deploy_copy: Path) -> None:
    rules = deploy_copy / "deploy" / "prometheus" / "rules" / "rnnstream.rules.yml"
    replace_in_file(rules, "> 0.01", "> 0.05")
    with pytest.raises(CheckFailed, match="RnnstreamDeadLetterRateHigh"):
        promtool_test_rules(deploy_copy / "deploy" / "prometheus" / "tests" / "rnnstream.rules.test.yml")
