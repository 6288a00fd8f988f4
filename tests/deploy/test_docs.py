"""The deployment and operations docs cover every setting and give the commands the checks rely on."""

from __future__ import annotations

from rnnstream.worker.settings import WorkerSettings
from tests.deploy.checking import REPO
from tests.deploy.kubernetes_checks import overlays

DEPLOYMENT = (REPO / "docs" / "deployment.md").read_text()
OPERATIONS = (REPO / "docs" / "operations.md").read_text()


def test_operations_documents_every_setting() -> None:
    for name in WorkerSettings.model_fields:
        assert f"`RNNSTREAM_{name.upper()}`" in OPERATIONS, name


def test_deployment_gives_the_commands() -> None:
    assert "docker build -f deploy/Dockerfile -t rnnstream:dev ." in DEPLOYMENT
    assert "docker compose up --build -d" in DEPLOYMENT
    for overlay in overlays():
        assert f"kubectl apply -k deploy/kubernetes/overlays/{overlay.name}" in DEPLOYMENT
    assert "http://localhost:3000" in DEPLOYMENT
    assert "bash deploy/check-tools.sh --install" in DEPLOYMENT


def test_deployment_says_docker_is_not_tested_here() -> None:
    assert "no Docker engine" in DEPLOYMENT
