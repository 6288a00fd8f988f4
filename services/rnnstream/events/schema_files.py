"""The JSON Schema files in ``schemas/``, generated from the pydantic models.

Regenerate after changing a model::

    python -m rnnstream.events.schema_files

A test compares the files with :func:`generated_schemas`, so a model and its published schema cannot drift.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from rnnstream.events.models import DeadLetter, InputEvent, PredictionEvent

SCHEMA_DIR = Path(__file__).with_name("schemas")
_DIALECT = "https://json-schema.org/draft/2020-12/schema"

#: File name -> model, for every published format.
SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    "input-event.v1.json": InputEvent,
    "prediction-event.v1.json": PredictionEvent,
    "dead-letter.v1.json": DeadLetter,
}


def _schema(name: str, model: type[BaseModel]) -> dict[str, Any]:
    body = model.model_json_schema(mode="validation")
    return {"$schema": _DIALECT, "$id": f"urn:rnnstream:events:{name.removesuffix('.json')}", **body}


def render(schema: dict[str, Any]) -> str:
    """The exact text of a schema file (sorted keys, two-space indent, final newline)."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generated_schemas() -> dict[str, str]:
    """File name -> the text each schema file must have."""
    return {name: render(_schema(name, model)) for name, model in SCHEMA_MODELS.items()}


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write every schema file into ``directory``; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in generated_schemas().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_schemas():
        print(written_path)
