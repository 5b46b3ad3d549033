#!/usr/bin/env bash
# The prepared accelerator check: the adversarial train step of every base model at
# 256 px in bf16, each model in its own process (so the device's peak memory is its
# own) under a time limit, about 8 minutes in all; writes a Markdown table (device
# kind, compile s, step ms, share of the bf16 peak, device MiB) and prints it.
#   bash scripts/device_check.sh [OUT.md] [more scripts/benchmark.py flags]
# Extra flags override the defaults, e.g. a CPU rehearsal of two of the models:
#   MODELS="cnn2d cnn3d" bash scripts/device_check.sh /tmp/check.md --size=tiny \
#       --set data.image_size=32 --steps=2
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-device_check.md}"
shift || true
python="${PYTHON:-.venv/bin/python}"
limit="${PER_MODEL_S:-110}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
{
  echo "| device | model | setting | compile s | median step ms | images/s | GFLOP/step | % of peak | device MiB |"
  echo "|---|---|---|---|---|---|---|---|---|"
} > "$out"
for model in ${MODELS:-cnn2d segformer segformer_st cnn3d}; do
  timeout "$limit" "$python" scripts/benchmark.py --models="$model" --size=base --steps=20 \
    --set model.dtype=bfloat16 --set data.image_size=256 --set input.image_batch=32 \
    --set input.video_batch=8 --table="$out" "$@" > "$out.$model.log" 2>&1
  rc=$?
  if [ "$rc" = 124 ]; then
    echo "| - | $model | — | did not compile and run 20 steps within ${limit} s | | | | | |" >> "$out"
  elif [ "$rc" != 0 ]; then
    echo "| - | $model | — | failed (exit $rc): $(tail -n 1 "$out.$model.log" | cut -c1-120) | | | | | |" >> "$out"
  fi
done
cat "$out"
