"""Fixtures for the deployment checks: broken copies of the deploy tree live in ``tmp_path``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.deploy.checking import DEPLOY, REPO


@pytest.fixture
def deploy_copy(tmp_path: Path) -> Path:
    """A writable copy of ``deploy/`` and ``docker-compose.yml``, laid out as in the repository."""
    root = tmp_path / "repo"
    shutil.copytree(DEPLOY, root / "deploy", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO / "docker-compose.yml", root / "docker-compose.yml")
    return root
