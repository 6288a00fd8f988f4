"""Kustomize overlays render, validate against current Kubernetes and CRD schemas, and hang together."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from rnnstream.errors import ConfigurationError
from rnnstream.worker.settings import load_settings
from tests.deploy.checking import KUBERNETES, RULES_FILE, CheckFailed, kubectl, replace_in_file
from tests.deploy.kubernetes_checks import (
    check_consistency,
    overlays,
    render_overlay,
    settings_from_manifests,
    validate_objects,
)
from tests.deploy.monitoring_checks import rule_groups

OVERLAYS = overlays()


def kinds(objects: list[dict[str, Any]]) -> set[str]:
    return {obj["kind"] for obj in objects}


def test_kubectl_with_kustomize_is_installed() -> None:
    assert kubectl()


def test_dev_and_prod_overlays_exist() -> None:
    assert {path.name for path in OVERLAYS} >= {"dev", "prod"}


@pytest.mark.parametrize("overlay", OVERLAYS, ids=[path.name for path in OVERLAYS])
def test_overlay_renders_and_validates(overlay: Path) -> None:
    objects = render_overlay(overlay)
    assert {"Deployment", "Service", "ConfigMap", "PodDisruptionBudget", "ServiceAccount"} <= kinds(objects)
    validate_objects(objects)
    check_consistency(objects)


@pytest.mark.parametrize("overlay", OVERLAYS, ids=[path.name for path in OVERLAYS])
def test_overlay_settings_load(overlay: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker would accept the environment each overlay gives it."""
    for name in list(os.environ):
        if name.startswith("RNNSTREAM_"):
            monkeypatch.delenv(name)
    for name, value in settings_from_manifests(render_overlay(overlay)).items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert str(settings.model_repository) == "/app/models/repository"


def test_prod_scales_with_keda_and_is_monitored_by_the_operator() -> None:
    objects = render_overlay(KUBERNETES / "overlays" / "prod")
    assert {"ScaledObject", "TriggerAuthentication", "ServiceMonitor", "PrometheusRule"} <= kinds(objects)
    assert "HorizontalPodAutoscaler" not in kinds(objects)
    settings = settings_from_manifests(objects)
    assert settings["RNNSTREAM_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert settings["RNNSTREAM_REDIS_URL"].startswith("rediss://")
    assert settings["RNNSTREAM_REDIS_CLUSTER"] == "true"
    (deployment,) = [obj for obj in objects if obj["kind"] == "Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    secret_refs = [src["secretRef"] for src in container["envFrom"] if "secretRef" in src]
    assert secret_refs == [{"name": "rnnstream-worker-secrets", "optional": False}]


def test_dev_uses_the_plain_hpa() -> None:
    objects = render_overlay(KUBERNETES / "overlays" / "dev")
    assert "HorizontalPodAutoscaler" in kinds(objects)
    assert "ScaledObject" not in kinds(objects)


def test_prometheus_rule_matches_the_rule_file() -> None:
    objects = render_overlay(KUBERNETES / "overlays" / "prod")
    (rule,) = [obj for obj in objects if obj["kind"] == "PrometheusRule"]
    assert rule["spec"]["groups"] == rule_groups(RULES_FILE)


# --- Deliberately broken copies must fail ---------------------------------------------------------------------
def test_misspelled_field_fails_validation(deploy_copy: Path) -> None:
    kube = deploy_copy / "deploy" / "kubernetes"
    replace_in_file(kube / "base" / "deployment.yaml", "readinessProbe:", "readinesProbe:")
    with pytest.raises(CheckFailed, match="readinesProbe"):
        validate_objects(render_overlay(kube / "overlays" / "dev"))


def test_wrong_type_fails_validation(deploy_copy: Path) -> None:
    kube = deploy_copy / "deploy" / "kubernetes"
    replace_in_file(kube / "base" / "deployment.yaml", "containerPort: 6066", "containerPort: http-port")
    with pytest.raises(CheckFailed, match="containerPort"):
        validate_objects(render_overlay(kube / "overlays" / "dev"))


def test_removed_api_version_fails_validation(deploy_copy: Path) -> None:
    kube = deploy_copy / "deploy" / "kubernetes"
    replace_in_file(kube / "base" / "poddisruptionbudget.yaml", "policy/v1", "policy/v1beta1")
    with pytest.raises(CheckFailed, match="PodDisruptionBudget"):
        validate_objects(render_overlay(kube / "overlays" / "dev"))


def test_broken_kustomization_fails_to_render(deploy_copy: Path) -> None:
    kube = deploy_copy / "deploy" / "kubernetes"
    replace_in_file(kube / "base" / "kustomization.yaml", "- service.yaml", "- services.yaml")
    with pytest.raises(CheckFailed, match="kustomize"):
        render_overlay(kube / "overlays" / "prod")


def test_broken_scaled_object_fails_crd_schema(deploy_copy: Path) -> None:
    kube = deploy_copy / "deploy" / "kubernetes"
    replace_in_file(
        kube / "components" / "keda" / "scaledobject.yaml", 'lagThreshold: "500"', "lagThreshold: 500"
    )
    replace_in_file(kube / "components" / "keda" / "scaledobject.yaml", "pollingInterval:", "pollInterval:")
    with pytest.raises(CheckFailed) as caught:
        validate_objects(render_overlay(kube / "overlays" / "prod"))
    assert "lagThreshold" in str(caught.value)
    assert "pollInterval" in str(caught.value)


def test_broken_service_monitor_fails_crd_schema(deploy_copy: Path) -> None:
    kube = deploy_copy / "deploy" / "kubernetes"
    replace_in_file(
        kube / "components" / "prometheus-operator" / "servicemonitor.yaml", "interval: 15s", "interval: 15"
    )
    with pytest.raises(CheckFailed, match="ServiceMonitor"):
        validate_objects(render_overlay(kube / "overlays" / "prod"))


def test_unknown_custom_kind_fails_validation() -> None:
    with pytest.raises(CheckFailed, match="no schema"):
        validate_objects([{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}])


def test_wrong_probe_fails_consistency(deploy_copy: Path) -> None:
    kube = deploy_copy / "deploy" / "kubernetes"
    replace_in_file(kube / "base" / "deployment.yaml", "path: /readyz", "path: /ready")
    with pytest.raises(CheckFailed, match="readinessProbe"):
        check_consistency(render_overlay(kube / "overlays" / "dev"))


def test_writable_root_filesystem_fails_consistency(deploy_copy: Path) -> None:
    kube = deploy_copy / "deploy" / "kubernetes"
    replace_in_file(
        kube / "base" / "deployment.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"
    )
    with pytest.raises(CheckFailed, match="readOnlyRootFilesystem"):
        check_consistency(render_overlay(kube / "overlays" / "dev"))


def test_scaled_object_on_the_wrong_topic_fails_consistency(deploy_copy: Path) -> None:
    kube = deploy_copy / "deploy" / "kubernetes"
    replace_in_file(
        kube / "components" / "keda" / "scaledobject.yaml", "topic: rnnstream.events", "topic: events"
    )
    with pytest.raises(CheckFailed, match="input topic"):
        check_consistency(render_overlay(kube / "overlays" / "prod"))


def test_unknown_setting_fails_consistency(deploy_copy: Path) -> None:
    kube = deploy_copy / "deploy" / "kubernetes"
    replace_in_file(kube / "base" / "worker.env", "RNNSTREAM_GAP_POLICY=", "RNNSTREAM_GAP_POLIC=")
    with pytest.raises(CheckFailed, match="RNNSTREAM_GAP_POLIC "):
        check_consistency(render_overlay(kube / "overlays" / "dev"))


def test_invalid_setting_value_is_caught(deploy_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kube = deploy_copy / "deploy" / "kubernetes"
    replace_in_file(kube / "base" / "worker.env", "RNNSTREAM_GAP_POLICY=skip", "RNNSTREAM_GAP_POLICY=ignore")
    for name, value in settings_from_manifests(render_overlay(kube / "overlays" / "dev")).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match="RNNSTREAM_GAP_POLICY"):
        load_settings()
