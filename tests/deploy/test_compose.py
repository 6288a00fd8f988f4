"""docker-compose.yml against the Compose Specification schema, and what the stack must contain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from rnnstream.worker.settings import WorkerSettings
from tests.deploy.checking import COMPOSE_FILE, PROMETHEUS_CONFIG, CheckFailed, replace_in_file
from tests.deploy.container_checks import compose_schema, validate_compose


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


def test_vendored_schema_is_the_compose_specification() -> None:
    schema = compose_schema()
    assert schema["title"] == "Compose Specification"
    assert "services" in schema["properties"]


def test_compose_file_is_valid() -> None:
    validate_compose(COMPOSE_FILE)


def test_stack_has_every_part() -> None:
    services = compose()["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "broker,controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]  # KRaft
    assert "redis-data:/data" in services["redis"]["volumes"]
    workers = [name for name, svc in services.items() if svc.get("command") == ["worker"]]
    assert len(workers) == 2
    assert "producer" in services
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    assert services["grafana"]["image"].startswith("grafana/grafana")


def test_redis_keeps_the_state() -> None:
    """AOF fsynced at least every second on the volume, no eviction (docs/operations.md)."""
    command = compose()["services"]["redis"]["command"]
    assert command[0] == "redis-server"
    options: dict[str, str] = {}
    for arg in command[1:]:  # "--name value..." as redis-server reads its command line
        if arg.startswith("--"):
            name = arg
            options[name] = ""
        else:
            options[name] = f"{options[name]} {arg}".strip()
    assert options["--appendonly"] == "yes"
    assert options["--appendfsync"] in ("everysec", "always")
    assert options["--maxmemory-policy"] == "noeviction"
    assert "--dir" not in options  # the image's /data, where the volume is mounted


def test_prometheus_scrapes_both_workers() -> None:
    services = compose()["services"]
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "rnnstream-worker"]
    targets = {target for static in job["static_configs"] for target in static["targets"]}
    workers = {name for name, svc in services.items() if svc.get("command") == ["worker"]}
    assert targets == {f"{name}:6066" for name in workers}


def test_environment_names_are_worker_settings() -> None:
    known = {"RNNSTREAM_" + name.upper() for name in WorkerSettings.model_fields}
    for name, service in compose()["services"].items():
        environment = service.get("environment", {})
        for variable in environment:
            if variable.startswith("RNNSTREAM_"):
                assert variable in known, f"{name}: {variable}"


# --- Deliberately broken copies must fail ---------------------------------------------------------------------
def test_unknown_key_fails(deploy_copy: Path) -> None:
    path = deploy_copy / "docker-compose.yml"
    replace_in_file(path, "  redis:\n    image:", "  redis:\n    imagee: redis\n    image:")
    with pytest.raises(CheckFailed, match="imagee"):
        validate_compose(path)


def test_wrong_type_fails(deploy_copy: Path) -> None:
    path = deploy_copy / "docker-compose.yml"
    replace_in_file(path, "retries: 10", "retries: [10]")
    with pytest.raises(CheckFailed, match="retries"):
        validate_compose(path)


def test_bad_depends_on_condition_fails(deploy_copy: Path) -> None:
    path = deploy_copy / "docker-compose.yml"
    replace_in_file(path, "condition: service_healthy", "condition: when_ready")
    with pytest.raises(CheckFailed, match="when_ready"):
        validate_compose(path)


def test_dependency_on_a_missing_service_fails(deploy_copy: Path) -> None:
    path = deploy_copy / "docker-compose.yml"
    replace_in_file(
        path, "    redis:\n      condition: service_healthy", "    rediss:\n      condition: service_healthy"
    )
    with pytest.raises(CheckFailed, match="no service 'rediss'"):
        validate_compose(path)


def test_missing_mounted_file_fails(deploy_copy: Path) -> None:
    path = deploy_copy / "docker-compose.yml"
    replace_in_file(path, "./deploy/prometheus/prometheus.yml:", "./deploy/prometheus/prometheus.yaml:")
    with pytest.raises(CheckFailed, match="does not exist"):
        validate_compose(path)


def test_every_rnnstream_command_in_the_stack_exists() -> None:
    """The commands compose runs in the rnnstream image are real CLI commands (with the options it passes)."""
    import typer

    from rnnstream.cli.main import app

    root: Any = typer.main.get_command(app)
    checked = 0
    for name, svc in compose()["services"].items():
        if svc.get("image") != "rnnstream:dev":
            continue
        command = svc["command"]
        if svc.get("entrypoint"):  # the producer's shell loop
            assert "rnnstream produce text" in command[0], name
            options = {
                o for p in root.commands["produce"].commands["text"].params for o in getattr(p, "opts", [])
            }
            for flag in ("--file", "--interval-ms", "--quiet"):
                assert flag in options and flag in command[0], flag
        else:
            assert command[0] in root.commands, f"service {name} runs unknown command {command[0]!r}"
        checked += 1
    assert checked >= 3  # two workers and the producer
