"""Shared parts of the deployment checks: paths, errors, and finding the tools they run.

Every check raises :class:`CheckFailed` listing each problem it found; a missing tool raises :class:`ToolMissing`,
whose message says how to install it (deliberately not a ``CheckFailed``, so that a negative test cannot pass on a
missing tool). Nothing here touches the network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
SCHEMAS = DEPLOY / "schemas"
COMPOSE_FILE = REPO / "docker-compose.yml"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
RULES_FILE = DEPLOY / "prometheus" / "rules" / "rnnstream.rules.yml"
RULE_TESTS = DEPLOY / "prometheus" / "tests" / "rnnstream.rules.test.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "rnnstream.json"
DOCKERFILE = DEPLOY / "Dockerfile"

INSTALL_HINT = "run `bash deploy/check-tools.sh --install` (docs/deployment.md, section 'Checks')"


class CheckFailed(Exception):
    """A deployment artefact failed a check; the message lists every problem."""


class ToolMissing(Exception):
    """A tool a check needs is not installed (not a CheckFailed: a negative test must not pass on it)."""


def fail_if_any(title: str, problems: Iterable[str]) -> None:
    """Raise :class:`CheckFailed` titled ``title`` if ``problems`` holds anything."""
    listed = list(problems)
    if listed:
        raise CheckFailed(title + ":\n  " + "\n  ".join(listed))


# --- Tools --------------------------------------------------------------------------------------------------
def _search_path() -> str:
    """PATH with the venv's bin first, where ``check-tools.sh --install`` puts kubectl."""
    return os.pathsep.join([str(REPO / ".venv" / "bin"), os.environ.get("PATH", "")])


def _tool(variable: str, name: str) -> str | None:
    """The tool named by ``$variable`` if set (it must be executable), else ``name`` on the search path."""
    explicit = os.environ.get(variable)
    if explicit:
        return explicit if shutil.which(explicit) else None
    return shutil.which(name, path=_search_path())


@cache
def kubectl() -> str:
    """Path of a kubectl whose kustomize is v4 or newer (components, inline patches)."""
    candidate = _tool("KUBECTL", "kubectl")
    if not candidate:
        raise ToolMissing(f"kubectl not found: {INSTALL_HINT}")
    out = subprocess.run([candidate, "version", "--client", "-o", "json"], capture_output=True, text=True)
    try:
        version = json.loads(out.stdout).get("kustomizeVersion", "v0")
        major = int(version.lstrip("v").split(".")[0])
    except (ValueError, AttributeError):
        major = 0
    if major < 4:
        raise ToolMissing(
            f"{candidate} embeds kustomize older than v4 (Debian's kubernetes-client): {INSTALL_HINT}"
        )
    return candidate


@cache
def promtool() -> str:
    """Path of promtool (Debian package ``prometheus``)."""
    candidate = _tool("PROMTOOL", "promtool")
    if not candidate:
        raise ToolMissing(
            f"promtool not found (apt-get install --no-install-recommends prometheus): {INSTALL_HINT}"
        )
    return candidate


def require_python(module: str, requirement: str) -> None:
    """Raise :class:`ToolMissing` naming ``requirement`` if ``module`` cannot be imported."""
    try:
        __import__(module)
    except ImportError as exc:
        raise ToolMissing(f"Python package {requirement} is missing from the venv: {INSTALL_HINT}") from exc


# --- For the tests that break copies on purpose -------------------------------------------------------------
def replace_in_file(path: Path, old: str, new: str) -> None:
    """Replace the first ``old`` (which must occur) by ``new`` in the file at ``path``."""
    text = path.read_text()
    if old not in text:
        raise AssertionError(f"{old!r} not found in {path}")
    path.write_text(text.replace(old, new, 1))
