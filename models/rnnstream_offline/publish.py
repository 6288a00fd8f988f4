"""Write a verified model into the repository: ``<root>/<name>/<version>/``.

The folder is assembled under a temporary name and renamed into place, so readers never see half a model.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rnnstream.repository.manifest import Manifest
from rnnstream.repository.reader import MANIFEST_FILE, ModelRepository

PACKAGE_DIR = Path(__file__).resolve().parent


def source_sha256() -> str:
    """SHA-256 over this package's source files (name and content, sorted by name)."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def next_version(root: Path, name: str) -> str:
    versions = ModelRepository(root).versions(name)
    return str(int(versions[-1]) + 1) if versions else "1"


def publish(
    root: Path,
    *,
    model_bytes: bytes,
    manifest_fields: Mapping[str, Any],
    extra_files: Mapping[str, Callable[[Path], None]] | None = None,
    version: str | None = None,
    force: bool = False,
) -> Path:
    """Publish; returns the model folder. Refuses to replace an existing version unless ``force``."""
    name = str(manifest_fields["name"])
    version = version or next_version(root, name)
    target = root / name / version
    if target.exists() and not force:
        raise FileExistsError(f"{target} exists; choose another --version or pass --force")
    fields = dict(manifest_fields)
    fields.update(
        version=version,
        model_sha256=hashlib.sha256(model_bytes).hexdigest(),
        source_sha256=source_sha256(),
        created_at=datetime.now(UTC).replace(microsecond=0).isoformat(),
    )
    manifest = Manifest.model_validate(fields)
    (root / name).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=root / name))
    tmp.chmod(0o755)
    try:
        (tmp / manifest.model_file).write_bytes(model_bytes)
        for _fname, write in (extra_files or {}).items():
            write(tmp)
        text = json.dumps(manifest.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
        (tmp / MANIFEST_FILE).write_text(text, encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
