#!/usr/bin/env bash
# Set up rnnstream on a fresh Debian machine with Python 3.11 (root for the apt part), idempotently:
#   - Debian packages the tools and tests need (only those missing; skipped when not root):
#     kcat (the any-language interop test), prometheus (promtool, for the alert-rule checks),
#     espeak-ng (the synthetic training voices of `rnnstream synth-digits`)
#   - .venv with every extra but fuzz (torch pinned to 2.13.0, CPU build; peer: Quix Streams for the bench)
#   - kubectl with kustomize >= 4 for the manifest checks, when none is on PATH (deploy/check-tools.sh)
# Re-running does nothing unless pyproject.toml changed. Override the interpreter with PYTHON=...
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
VENV=${VENV:-.venv}
STAMP="$VENV/.rnnstream-setup"
APT_PACKAGES=(kcat prometheus espeak-ng)

need_apt=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if ! "$PYTHON" -m venv --help >/dev/null 2>&1 || ! "$PYTHON" -c "import ensurepip" >/dev/null 2>&1; then
  need_apt+=(python3.11-venv)
fi
if ((${#need_apt[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages: ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
    # the prometheus package starts a server on :9090 where systemd runs; only promtool is wanted
    command -v systemctl >/dev/null 2>&1 && systemctl disable --now prometheus >/dev/null 2>&1 || true
  else
    echo "setup: please install these Debian packages: ${need_apt[*]}" >&2
  fi
fi

want=$(sha256sum pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x "$VENV/bin/rnnstream" ]; then
  echo "setup: $VENV is up to date"
  VENV="$VENV" bash deploy/check-tools.sh --install >/dev/null
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
pip_args=(--disable-pip-version-check -q)
# torch==2.13.0 CPU build: from a local wheel folder when there is one, else from PyTorch's CPU index
# (an unpinned or PyPI torch would pull a several-GB CUDA build).
if [ -n "${TORCH_FIND_LINKS:-}" ] || [ -d /opt/wheels ]; then
  pip_args+=(--find-links "${TORCH_FIND_LINKS:-/opt/wheels}")
else
  pip_args+=(--extra-index-url "${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}")
fi
echo "setup: installing rnnstream and its extras into $VENV (first time: a few minutes)"
"$VENV/bin/python" -m pip install "${pip_args[@]}" --upgrade pip setuptools wheel
"$VENV/bin/python" -m pip install "${pip_args[@]}" -e ".[audio,worker,services,train,dev,peer]"
VENV="$VENV" bash deploy/check-tools.sh --install
echo "$want" > "$STAMP"
echo "setup: done"
