"""The compose file against the Compose Specification, and the Dockerfile without a Docker engine."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.checking import SCHEMAS, CheckFailed, fail_if_any, require_python


# --- Compose ------------------------------------------------------------------------------------------------
@cache
def compose_schema() -> dict[str, Any]:
    """The vendored Compose Specification schema."""
    schema: dict[str, Any] = json.loads((SCHEMAS / "compose-spec.json").read_text())
    return schema


def validate_compose(path: Path) -> None:
    """The compose file against the Compose Specification schema, plus references the schema cannot check."""
    require_python("jsonschema", "jsonschema")
    import jsonschema

    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise CheckFailed(f"{path} is not YAML: {exc}") from exc
    validator = jsonschema.Draft7Validator(compose_schema())
    problems = [
        f"{'.'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    ]
    services: dict[str, Any] = document.get("services", {}) if isinstance(document, dict) else {}
    volumes = set((document or {}).get("volumes") or {})
    for name, service in services.items():
        depends = service.get("depends_on", {})
        for target in depends if isinstance(depends, (list, dict)) else []:
            if target not in services:
                problems.append(f"services.{name}.depends_on: no service {target!r}")
            elif not isinstance(depends, dict) or "condition" not in (depends[target] or {}):
                problems.append(
                    f"services.{name}.depends_on.{target}: give a condition (service_healthy, ...)"
                )
        if "image" not in service and "build" not in service:
            problems.append(f"services.{name}: neither image nor build")
        build = service.get("build")
        if isinstance(build, dict):
            context = path.parent / build.get("context", ".")
            if not (context / build.get("dockerfile", "Dockerfile")).is_file():
                problems.append(f"services.{name}.build: {build.get('dockerfile')} not found in {context}")
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0] if isinstance(mount, str) else mount.get("source", "")
            if source.startswith((".", "/")):
                if not (path.parent / source).exists():
                    problems.append(f"services.{name}.volumes: {source} does not exist")
            elif source and source not in volumes:
                problems.append(f"services.{name}.volumes: named volume {source!r} is not declared")
        if "healthcheck" not in service and name not in ("kafka-init",) and "build" not in service:
            problems.append(f"services.{name}: no healthcheck")
    fail_if_any(f"{path} is not a valid Compose file", problems)


# --- Dockerfile ---------------------------------------------------------------------------------------------
def check_dockerfile(path: Path) -> None:
    """What can be checked without a Docker engine: stages, user, healthcheck, extras, signals."""
    lines = [line.strip() for line in re.sub(r"\\\n", " ", path.read_text()).splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    stages = [i for i, line in enumerate(instructions) if line.upper().startswith("FROM ")]
    problems: list[str] = []
    if len(stages) < 2:
        problems.append("not multi-stage (one FROM)")
    final = instructions[stages[-1] :] if stages else instructions
    users = [line.split(None, 1)[1] for line in final if line.upper().startswith("USER ")]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("the final stage does not switch to a non-root USER")
    if not any(line.upper().startswith("HEALTHCHECK ") for line in final):
        problems.append("no HEALTHCHECK in the final stage")
    text = " ".join(instructions)
    if '".[worker]"' not in text and "'.[worker]'" not in text:
        problems.append('the image does not install the serving extras (pip install ".[worker]")')
    installs = [part for line in instructions for part in line.split("&&") if "pip install" in part]
    for command in installs:
        for banned in ("torch", "librosa", "[train]", "[audio]", "train]", "audio]"):
            if banned in command:
                problems.append(f"{command.strip()!r} installs {banned}: the worker image must not")
    if any(line.upper().startswith("COPY ") and "rnnstream_offline" in line for line in instructions):
        problems.append("the image copies the offline (PyTorch) package: the worker image serves only")
    if "RNNSTREAM_MODEL_REPOSITORY=/app/models/repository" not in text:
        problems.append("RNNSTREAM_MODEL_REPOSITORY is not set to /app/models/repository")
    if "models/repository/ /app/models/repository" not in text:
        problems.append("the model repository is not copied to /app/models/repository")
    entrypoint = [line for line in final if line.upper().startswith("ENTRYPOINT ")]
    if not entrypoint or "tini" not in entrypoint[-1]:
        problems.append("ENTRYPOINT does not run under tini (SIGTERM forwarding to the worker)")
    fail_if_any(f"{path} breaks the image rules", problems)
