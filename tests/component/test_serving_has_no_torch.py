"""Nothing under services/ imports torch: import every serving module in a fresh interpreter and check."""

from __future__ import annotations

import subprocess
import sys

from tests.paths import ROOT

SCRIPT = """
import importlib, pkgutil, sys
import rnnstream
names = [m.name for m in pkgutil.walk_packages(rnnstream.__path__, "rnnstream.")]
for name in names:
    importlib.import_module(name)
assert len(names) > 10, names
bad = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
print(len(names), "modules;", "torch loaded" if bad else "no torch")
sys.exit(1 if bad else 0)
"""


def test_serving_package_never_imports_torch() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no torch" in proc.stdout


def test_no_torch_import_statement_under_services() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "services").rglob("*.py")
        if any(
            line.strip().startswith(("import torch", "from torch"))
            for line in p.read_text(encoding="utf-8").splitlines()
        )
    ]
    assert offenders == []
