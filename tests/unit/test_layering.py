"""The arrows of the serving package point one way: the pure core imports nothing of the project but
itself and ``errors`` (and no I/O library), and production code never imports the development services or
the terminal UI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "services" / "rnnstream"
FORBIDDEN_IN_PRODUCTION = {"rnnstream.localservices", "rnnstream.cli", "rnnstream.bench"}
IO_LIBRARIES = {"faust", "mode", "redis", "aiokafka", "kafka", "aiohttp", "prometheus_client", "onnxruntime"}


def _imports(folder: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((PACKAGE / folder).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(PACKAGE))] = names
    return found


def test_the_core_imports_only_itself_errors_and_no_io_library() -> None:
    for path, names in _imports("core").items():
        project = {n for n in names if n.startswith("rnnstream")}
        assert all(n.startswith("rnnstream.core") or n == "rnnstream.errors" for n in project), (
            path,
            project,
        )
        assert not {n.split(".")[0] for n in names} & IO_LIBRARIES, (path, names)


@pytest.mark.parametrize("folder", ["worker", "state", "events", "runtime", "clients", "repository", "kafka"])
def test_production_code_never_imports_the_development_services_or_the_cli(folder: str) -> None:
    for path, names in _imports(folder).items():
        bad = {n for n in names if ".".join(n.split(".")[:2]) in FORBIDDEN_IN_PRODUCTION}
        assert not bad, (path, bad)


def test_the_client_library_has_no_terminal_ui() -> None:
    for path, names in _imports("clients").items():
        assert not {n for n in names if n.split(".")[0] == "rich"}, path
