"""The Dockerfile, checked without a Docker engine (none runs here): stages, user, healthcheck, extras."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.deploy.checking import DEPLOY, DOCKERFILE, REPO, CheckFailed, replace_in_file
from tests.deploy.container_checks import check_dockerfile


def test_dockerfile_follows_the_image_rules() -> None:
    check_dockerfile(DOCKERFILE)


def test_worker_extra_has_no_torch_or_librosa() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["worker"]]
    for banned in ("torch", "librosa"):
        assert not any(req.lower().startswith(banned) for req in requirements), banned
    assert project["scripts"]["rnnstream"]


def test_build_context_keeps_what_the_image_copies() -> None:
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    assert "*" in ignore  # everything else stays out of the context
    kept = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert {
        "pyproject.toml",
        "README.md",
        "services",
        "models/repository",
    } <= kept
    assert not any(path.startswith("models/rnnstream_offline") for path in kept)  # serving only
    for path in kept:
        assert (REPO / path).exists(), path


# --- Deliberately broken copies must fail ---------------------------------------------------------------------
def test_root_user_fails(deploy_copy: Path) -> None:
    path = deploy_copy / "deploy" / "Dockerfile"
    replace_in_file(path, "USER ${APP_UID}:${APP_UID}", "USER root")
    with pytest.raises(CheckFailed, match="non-root"):
        check_dockerfile(path)


def test_missing_healthcheck_fails(deploy_copy: Path) -> None:
    path = deploy_copy / "deploy" / "Dockerfile"
    replace_in_file(path, "HEALTHCHECK ", "# HEALTHCHECK ")
    with pytest.raises(CheckFailed, match="HEALTHCHECK"):
        check_dockerfile(path)


def test_training_extras_fail(deploy_copy: Path) -> None:
    path = deploy_copy / "deploy" / "Dockerfile"
    replace_in_file(path, 'pip install --no-deps ".[worker]"', 'pip install ".[worker,train]"')
    with pytest.raises(CheckFailed, match="train"):
        check_dockerfile(path)


def test_copying_the_offline_package_fails(deploy_copy: Path) -> None:
    path = deploy_copy / "deploy" / "Dockerfile"
    replace_in_file(
        path,
        "COPY services/ services/",
        "COPY services/ services/\nCOPY models/rnnstream_offline/ models/rnnstream_offline/",
    )
    with pytest.raises(CheckFailed, match="offline"):
        check_dockerfile(path)
