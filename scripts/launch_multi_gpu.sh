#!/usr/bin/env bash
# Runs vda_jax on one or several multi-GPU hosts: one process per host, each seeing
# all of its GPUs; process 0's host is the coordinator (train/distributed.py reads
# VDA_COORDINATOR, VDA_NUM_PROCESSES, VDA_PROCESS_ID).
#
#   scripts/launch_multi_gpu.sh --hosts=gpu-a,gpu-b --workdir=/shared/runs/x \
#       -- --config=configs/pod.py:method=clustered --config.model.dtype=bfloat16
#   ... --dry-run     prints the exact commands and runs nothing
#   ... --port=8476   coordinator port
#   ... --repo=DIR    where the repository lives on every host (default: this path)
# With --hosts=localhost it runs one process here. The workdir must be on storage
# every host sees. Output of every process is prefixed with its host and streamed here.
set -euo pipefail
HOSTS=localhost WORKDIR="" DRY=0 PORT=8476 REPO="$(cd "$(dirname "$0")/.." && pwd)"
while [ $# -gt 0 ]; do
  case "$1" in
    --hosts=*) HOSTS="${1#*=}" ;;
    --workdir=*) WORKDIR="${1#*=}" ;;
    --port=*) PORT="${1#*=}" ;;
    --repo=*) REPO="${1#*=}" ;;
    --dry-run) DRY=1 ;;
    --) shift; break ;;
    *) echo "launch_multi_gpu.sh: unknown option $1 (options before --, main.py flags after)" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$WORKDIR" ]; then
  echo "launch_multi_gpu.sh: --workdir=DIR is required (shared by every host)" >&2
  exit 2
fi
IFS=, read -r -a HOST_LIST <<< "$HOSTS"
N=${#HOST_LIST[@]}
COORDINATOR="${HOST_LIST[0]}:$PORT"
MAIN_FLAGS="$(printf ' %q' "$@" --workdir="$WORKDIR")"
# CUDA wheels: setup.sh installs CPU jax; jax[cuda12] adds the GPU plugin.
SETUP="cd $(printf %q "$REPO") && bash scripts/setup.sh && .venv/bin/pip install --quiet 'jax[cuda12]'"
PIDS=()
for i in "${!HOST_LIST[@]}"; do
  host="${HOST_LIST[$i]}"
  ENV="VDA_COORDINATOR=$COORDINATOR VDA_NUM_PROCESSES=$N VDA_PROCESS_ID=$i"
  if [ "$N" = 1 ]; then ENV=""; fi  # one host: no process group needed
  CMD="$SETUP && $ENV .venv/bin/python -m vda_jax.commands.train${MAIN_FLAGS}"
  if [ "$host" = localhost ]; then LAUNCH=(bash -c "$CMD"); else LAUNCH=(ssh "$host" "$CMD"); fi
  printf '+'; printf ' %q' "${LAUNCH[@]}"; printf '\n'
  if [ "$DRY" = 0 ]; then
    ( "${LAUNCH[@]}" 2>&1 | sed -u "s/^/[$host] /" ) &
    PIDS+=($!)
  fi
done
STATUS=0
for pid in "${PIDS[@]}"; do wait "$pid" || STATUS=1; done
exit $STATUS
