"""Kubernetes: render the kustomize overlays, validate them, and check what schemas cannot see."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.checking import KUBERNETES, SCHEMAS, CheckFailed, fail_if_any, kubectl, require_python

# Custom resources: (apiVersion, kind) -> vendored strict JSON schema (see deploy/schemas/NOTICE.md).
CRD_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda.sh_v1alpha1_scaledobject.json",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "keda.sh_v1alpha1_triggerauthentication.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "monitoring.coreos.com_v1_servicemonitor.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "monitoring.coreos.com_v1_prometheusrule.json",
}


# --- Kubernetes ---------------------------------------------------------------------------------------------
def overlays(root: Path = KUBERNETES) -> list[Path]:
    """Every kustomize overlay under ``root/overlays``."""
    return sorted(path.parent for path in (root / "overlays").glob("*/kustomization.yaml"))


def render_overlay(overlay: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize overlay``, parsed; fails with kustomize's message."""
    result = subprocess.run([kubectl(), "kustomize", str(overlay)], capture_output=True, text=True)
    if result.returncode != 0:
        raise CheckFailed(f"kubectl kustomize {overlay} failed:\n{result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _name(obj: Mapping[str, Any]) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


@cache
def _crd_schema(file: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / "kubernetes" / file).read_text())
    return schema


def validate_objects(objects: Iterable[Mapping[str, Any]], kubernetes_version: str | None = None) -> None:
    """Validate built-in kinds with kubernetes-validate (strict) and custom resources with vendored schemas."""
    require_python("kubernetes_validate", "kubernetes-validate")
    require_python("jsonschema", "jsonschema")
    import jsonschema
    from kubernetes_validate import utils as kv

    version = kubernetes_version or kv.latest_version()
    problems = []
    for obj in objects:
        key = (str(obj.get("apiVersion")), str(obj.get("kind")))
        if key in CRD_SCHEMAS:
            validator = jsonschema.Draft202012Validator(_crd_schema(CRD_SCHEMAS[key]))
            for error in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path)):
                path = ".".join(str(part) for part in error.absolute_path)
                problems.append(f"{_name(obj)}: {path}: {error.message}")
            continue
        try:
            kv.validate(dict(obj), version, strict=True)
        except kv.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            problems.append(f"{_name(obj)}: {path}: {error.message}")
        except kv.SchemaNotFoundError as error:
            problems.append(
                f"{_name(obj)}: no schema: {error.message} (add a vendored schema for custom kinds)"
            )
    fail_if_any(
        f"manifests do not validate against Kubernetes {version} (strict) and the CRD schemas", problems
    )


def _by_kind(objects: Iterable[Mapping[str, Any]], kind: str) -> list[Mapping[str, Any]]:
    return [obj for obj in objects if obj.get("kind") == kind]


def check_consistency(objects: Sequence[Mapping[str, Any]]) -> None:
    """Cross-references a schema cannot see: ports, names, selectors, settings, autoscaler bounds."""
    from rnnstream.worker.settings import WorkerSettings

    problems: list[str] = []
    (deployment,) = _by_kind(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    (container,) = [c for c in pod["containers"] if c["name"] == "worker"]
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    config_maps = {obj["metadata"]["name"]: obj.get("data", {}) for obj in _by_kind(objects, "ConfigMap")}
    config: dict[str, str] = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef")
        if ref:
            if ref["name"] not in config_maps:
                problems.append(f"envFrom names ConfigMap {ref['name']}, which the overlay does not render")
            config.update(config_maps.get(ref["name"], {}))
    settings_vars = {"RNNSTREAM_" + name.upper() for name in WorkerSettings.model_fields}
    for name in [*config, *env]:
        if name.startswith("RNNSTREAM_") and name not in settings_vars:
            problems.append(f"{name} is not a worker setting (rnnstream.worker.settings)")
    merged = {**config, **{k: v for k, v in env.items() if v is not None}}
    port = int(merged.get("RNNSTREAM_HTTP_PORT", "6066"))
    if ports.get("http") != port:
        problems.append(f"container port 'http' is {ports.get('http')} but RNNSTREAM_HTTP_PORT is {port}")
    for probe, path in (
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
        ("startupProbe", "/healthz"),
    ):
        get = container.get(probe, {}).get("httpGet")
        if not get:
            problems.append(f"{probe} missing")
        elif get.get("path") != path or get.get("port") not in ("http", port):
            problems.append(
                f"{probe} should GET {path} on port 'http', not {get.get('path')} on {get.get('port')}"
            )
    security = container.get("securityContext", {})
    if not (pod.get("securityContext", {}).get("runAsNonRoot") or security.get("runAsNonRoot")):
        problems.append("the worker may run as root (runAsNonRoot unset)")
    if not security.get("readOnlyRootFilesystem"):
        problems.append("the worker's root filesystem is writable (readOnlyRootFilesystem unset)")
    if security.get("allowPrivilegeEscalation", True):
        problems.append("allowPrivilegeEscalation is not false")
    resources = container.get("resources", {})
    for part in ("requests", "limits"):
        if not {"cpu", "memory"} <= set(resources.get(part, {})):
            problems.append(f"resources.{part} must set cpu and memory")

    services = _by_kind(objects, "Service")
    metrics_ports = {
        p.get("name"): p
        for svc in services
        if all(pod_labels.get(k) == v for k, v in svc["spec"].get("selector", {}).items())
        for p in svc["spec"].get("ports", [])
    }
    if "metrics" not in metrics_ports:
        problems.append("no Service selecting the worker pods has a port named 'metrics'")
    elif metrics_ports["metrics"].get("targetPort") not in ("http", port):
        problems.append("the Service's metrics port does not target the container's http port")
    for pdb in _by_kind(objects, "PodDisruptionBudget"):
        selector = pdb["spec"].get("selector", {}).get("matchLabels", {})
        if not all(pod_labels.get(k) == v for k, v in selector.items()):
            problems.append(f"{_name(pdb)} does not select the worker pods")
    for monitor in _by_kind(objects, "ServiceMonitor"):
        match = monitor["spec"].get("selector", {}).get("matchLabels", {})
        if not any(
            all(s["metadata"].get("labels", {}).get(k) == v for k, v in match.items()) for s in services
        ):
            problems.append(f"{_name(monitor)} selects no Service")
        for endpoint in monitor["spec"].get("endpoints", []):
            if endpoint.get("port") not in metrics_ports:
                problems.append(
                    f"{_name(monitor)} scrapes port {endpoint.get('port')!r}, which no Service has"
                )

    partitions = int(merged.get("RNNSTREAM_TOPIC_PARTITIONS", "8"))
    autoscalers = _by_kind(objects, "ScaledObject") + _by_kind(objects, "HorizontalPodAutoscaler")
    if len(autoscalers) > 1:
        problems.append("more than one autoscaler for the worker (use components/keda or components/hpa)")
    if autoscalers and "replicas" in deployment["spec"]:
        problems.append("the Deployment sets replicas although an autoscaler owns them")
    for scaled in _by_kind(objects, "ScaledObject"):
        spec = scaled["spec"]
        if spec["scaleTargetRef"]["name"] != deployment["metadata"]["name"]:
            problems.append(f"{_name(scaled)} targets {spec['scaleTargetRef']['name']}")
        if spec.get("maxReplicaCount", 100) > partitions:
            problems.append(f"{_name(scaled)} maxReplicaCount exceeds the {partitions} input partitions")
        for trigger in spec["triggers"]:
            meta = trigger.get("metadata", {})
            if trigger["type"] == "kafka":
                if meta.get("topic") != merged.get("RNNSTREAM_INPUT_TOPIC", "rnnstream.events"):
                    problems.append(f"{_name(scaled)} watches topic {meta.get('topic')}, not the input topic")
                if meta.get("consumerGroup") != merged.get("RNNSTREAM_APP_ID", "rnnstream-worker"):
                    problems.append(
                        f"{_name(scaled)} watches group {meta.get('consumerGroup')}, not the app id"
                    )
                brokers = merged.get("RNNSTREAM_BROKER", "").replace("kafka://", "")
                if meta.get("bootstrapServers") != brokers:
                    problems.append(f"{_name(scaled)} bootstrapServers differ from RNNSTREAM_BROKER")
            auth = trigger.get("authenticationRef", {}).get("name")
            if auth and auth not in {
                o["metadata"]["name"] for o in _by_kind(objects, "TriggerAuthentication")
            }:
                problems.append(
                    f"{_name(scaled)} refers to TriggerAuthentication {auth}, which is not rendered"
                )
    for hpa in _by_kind(objects, "HorizontalPodAutoscaler"):
        if hpa["spec"]["scaleTargetRef"]["name"] != deployment["metadata"]["name"]:
            problems.append(f"{_name(hpa)} targets {hpa['spec']['scaleTargetRef']['name']}")
        if hpa["spec"]["maxReplicas"] > partitions:
            problems.append(f"{_name(hpa)} maxReplicas exceeds the {partitions} input partitions")
    fail_if_any("the rendered manifests are inconsistent", problems)


def settings_from_manifests(objects: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The RNNSTREAM_* environment the worker container would see, with placeholders for Secret values."""
    (deployment,) = _by_kind(objects, "Deployment")
    (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "worker"]
    config_maps = {obj["metadata"]["name"]: obj.get("data", {}) for obj in _by_kind(objects, "ConfigMap")}
    environment: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            environment.update(config_maps.get(source["configMapRef"]["name"], {}))
        elif "secretRef" in source and not source["secretRef"].get("optional", False):
            # A required Secret supplies the credentials the docs list for it.
            environment.update(
                {
                    "RNNSTREAM_KAFKA_SASL_USERNAME": "placeholder",
                    "RNNSTREAM_KAFKA_SASL_PASSWORD": "placeholder",
                    "RNNSTREAM_REDIS_PASSWORD": "placeholder",
                }
            )
    environment.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    return environment
