"""Prometheus and Grafana: promtool, the dashboard's structure, and the metric cross-check."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.checking import CheckFailed, fail_if_any, promtool

# Labels Prometheus attaches to every scraped series (static configs, the operator's ServiceMonitor).
TARGET_LABELS = frozenset({"job", "instance", "namespace", "pod", "container", "service", "endpoint"})
# Series Prometheus makes itself; queries may use them besides what the worker exports.
PROMETHEUS_SERIES: Mapping[str, frozenset[str]] = {"up": frozenset()}


# --- Prometheus ---------------------------------------------------------------------------------------------
def _promtool(*args: str) -> None:
    result = subprocess.run([promtool(), *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise CheckFailed(f"promtool {' '.join(args)} failed:\n{(result.stdout + result.stderr).strip()}")


def promtool_check_rules(*paths: Path) -> None:
    """``promtool check rules``."""
    _promtool("check", "rules", *map(str, paths))


def promtool_check_config(path: Path) -> None:
    """``promtool check config`` (also checks the rule files the config loads)."""
    _promtool("check", "config", str(path))


def promtool_test_rules(path: Path) -> None:
    """``promtool test rules``: the alert rules' unit tests."""
    _promtool("test", "rules", str(path))


def rule_groups(path: Path) -> list[dict[str, Any]]:
    """The ``groups`` of a Prometheus rule file."""
    groups: list[dict[str, Any]] = yaml.safe_load(path.read_text())["groups"]
    return groups


def rule_queries(groups: Iterable[Mapping[str, Any]], origin: str) -> dict[str, str]:
    """``{location: expr}`` for every rule."""
    return {
        f"{origin}: {rule.get('alert') or rule.get('record')}": str(rule["expr"])
        for group in groups
        for rule in group["rules"]
    }


# --- Grafana ------------------------------------------------------------------------------------------------
def _panels(panels: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def dashboard_queries(path: Path) -> dict[str, str]:
    """``{location: expr}`` for every panel target and every query variable of a dashboard JSON."""
    dashboard = json.loads(path.read_text())
    queries: dict[str, str] = {}
    for panel in _panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            if "expr" in target:
                queries[f"panel {panel.get('title')!r} {target.get('refId')}"] = target["expr"]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable.get("query")
            text = query.get("query") if isinstance(query, dict) else query
            queries[f"variable {variable.get('name')}"] = str(text)
    return queries


def check_dashboard(path: Path) -> None:
    """Structure: unique panel ids, a Prometheus datasource on every query panel, refIds, grid positions."""
    problems: list[str] = []
    try:
        dashboard = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckFailed(f"{path} is not JSON: {exc}") from exc
    for key in ("uid", "title", "panels", "schemaVersion"):
        if key not in dashboard:
            problems.append(f"dashboard has no {key!r}")
    variables = {v.get("name") for v in dashboard.get("templating", {}).get("list", [])}
    ids: set[int] = set()
    for panel in _panels(dashboard.get("panels", [])):
        title = panel.get("title")
        if panel.get("id") in ids:
            problems.append(f"panel {title!r}: duplicate id {panel.get('id')}")
        ids.add(panel.get("id", -1))
        if not {"x", "y", "w", "h"} <= set(panel.get("gridPos", {})):
            problems.append(f"panel {title!r}: incomplete gridPos")
        if panel.get("type") == "row":
            continue
        datasource = panel.get("datasource", {})
        if datasource.get("type") != "prometheus":
            problems.append(f"panel {title!r}: datasource is not Prometheus")
        uid = str(datasource.get("uid", ""))
        if uid.startswith("$") and uid.strip("${}") not in variables:
            problems.append(f"panel {title!r}: datasource variable {uid} is not defined")
        targets = panel.get("targets", [])
        if not targets:
            problems.append(f"panel {title!r}: no queries")
        ref_ids = [t.get("refId") for t in targets]
        if len(set(ref_ids)) != len(ref_ids) or None in ref_ids:
            problems.append(f"panel {title!r}: missing or repeated refId")
    fail_if_any(f"{path} is not a usable dashboard", problems)


# --- Metric cross-check -------------------------------------------------------------------------------------
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_RANGE = re.compile(r"\[[^\]]*\]")
_SELECTOR = re.compile(r"(?<![\w:.$])([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_IDENT = re.compile(r"(?<![\w:.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(.*)\s*,\s*)?([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$")
_KEYWORDS = frozenset(
    {
        *("and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"),
        *("bool", "offset", "inf", "nan", "sum", "avg", "min", "max", "count", "stddev", "stdvar"),
        *("topk", "bottomk", "quantile", "count_values", "group", "limitk", "limit_ratio"),
    }
)


def promql_references(expr: str) -> tuple[dict[str, set[str]], set[str]]:
    """Metric names with the label names matched on each, and the labels used in grouping clauses.

    A small tokenizer, enough for the queries in this repository: strings, ranges and label matchers are cut
    out before identifiers that are not functions or keywords are read as metric names.
    """
    label_values = _LABEL_VALUES.match(expr)
    if label_values:
        inner, label = label_values.groups()
        inner_metrics, inner_grouping = promql_references(inner or "")
        for labels in inner_metrics.values():
            labels.add(label)
        return inner_metrics, inner_grouping
    text = _STRING.sub('""', expr)
    text = _RANGE.sub(" ", text)
    metrics: dict[str, set[str]] = {}
    anonymous_labels: set[str] = set()

    def selector(match: re.Match[str]) -> str:
        labels = set(_MATCHER.findall(match.group(2)))
        if match.group(1) and match.group(1) not in _KEYWORDS:
            metrics.setdefault(match.group(1), set()).update(labels)
        else:
            anonymous_labels.update(labels)
        return " "

    text = _SELECTOR.sub(selector, text)
    grouping: set[str] = set()

    def group(match: re.Match[str]) -> str:
        grouping.update(label.strip() for label in match.group(2).split(",") if label.strip())
        return " "

    text = _GROUPING.sub(group, text)
    for name in _IDENT.findall(text):
        if name not in _KEYWORDS:
            metrics.setdefault(name, set())
    grouping |= anonymous_labels
    return metrics, grouping


def exported_series() -> dict[str, frozenset[str]]:
    """Every series name the worker exports, with its label names, read from a fresh registry's exposition.

    Each labelled metric gets one child so that its samples (and so its labels) appear, as on a running worker.
    """
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.metrics import MetricWrapperBase
    from prometheus_client.parser import text_string_to_metric_families

    from rnnstream.worker.metrics import WorkerMetrics

    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            names = value._labelnames  # the label names given at construction
            # a child kept as an attribute (``counter.labels(result="hit")``) is a series already
            if names and not value._labelvalues:
                value.labels(*["x"] * len(names))
    series: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        if not family.samples:
            raise CheckFailed(f"metric family {family.name} exported no sample")
        for sample in family.samples:
            series.setdefault(sample.name, set()).update(sample.labels)
    return {name: frozenset(labels) for name, labels in series.items()}


def check_queries(queries: Mapping[str, str], exported: Mapping[str, frozenset[str]] | None = None) -> None:
    """Every metric a query uses is exported, and every label it matches or groups by exists on it."""
    known = {**PROMETHEUS_SERIES, **(exported if exported is not None else exported_series())}
    problems: list[str] = []
    for where, expr in queries.items():
        metrics, grouping = promql_references(expr)
        if not metrics:
            problems.append(f"{where}: no metric found in {expr!r}")
        available = set(TARGET_LABELS)
        for name, labels in metrics.items():
            if name not in known:
                problems.append(f"{where}: {name} is not exported by the worker")
                continue
            allowed = known[name] | TARGET_LABELS | {"__name__"}
            available |= known[name]
            for label in sorted(labels - allowed):
                problems.append(f"{where}: {name} has no label {label!r}")
        for label in sorted(grouping - available - {"__name__"}):
            problems.append(f"{where}: groups or matches by {label!r}, which none of its metrics has")
    fail_if_any("queries use metrics or labels the worker does not export", problems)
