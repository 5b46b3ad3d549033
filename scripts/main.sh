#!/usr/bin/env bash
# The main job: set up, build the embedded benchmark, train source-only and
# adversarial and the supervised upper bound on it, print the gap table. Extra args go to
# scripts/experiment.py (e.g. --set train.steps=2000, the benchmark's calibrated length;
# --parallel=1 on an accelerator). 1000 steps keep the job under 15 minutes on the slower
# 2-core host type (AVX2); the three runs' step costs set that (docs/benchmarks.md).
# Two runs at once: on a 2-core CPU one run's step leaves a core half idle.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
exec .venv/bin/python scripts/experiment.py --config=configs/embedded.py \
  --workdir="${WORKDIR:-runs/default}" --methods=source_only,adversarial,upper_bound --parallel=2 \
  --set train.steps=1000 "$@"
