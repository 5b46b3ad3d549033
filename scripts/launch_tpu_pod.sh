#!/usr/bin/env bash
# Runs vda_jax on a Cloud TPU VM pod slice: create, copy + install, the same command
# on every worker (each joins the run via jax.distributed's TPU auto-detection),
# logs streamed here, then delete the slice.
#
#   scripts/launch_tpu_pod.sh --name=vda-pod --zone=us-central2-b --type=v4-32 \
#       --workdir=gs://BUCKET/runs/pod -- --config=configs/pod.py:method=clustered
#   ... --dry-run     prints the exact commands and runs nothing
#   ... --keep        leaves the slice up afterwards
# Everything after `--` goes to `python -m vda_jax.commands.train`. The workdir must be
# shared by all workers (a gs:// bucket); checkpoints are written collectively
# and a rerun of the same command resumes from the latest one.
set -euo pipefail
NAME=vda-pod ZONE=us-central2-b TYPE=v4-32 VERSION=tpu-ubuntu2204-base WORKDIR="" DRY=0 KEEP=0
PROJECT_FLAG=() SPOT_FLAG=()
while [ $# -gt 0 ]; do
  case "$1" in
    --name=*) NAME="${1#*=}" ;;
    --zone=*) ZONE="${1#*=}" ;;
    --type=*) TYPE="${1#*=}" ;;
    --version=*) VERSION="${1#*=}" ;;
    --project=*) PROJECT_FLAG=(--project="${1#*=}") ;;
    --spot) SPOT_FLAG=(--spot) ;;
    --workdir=*) WORKDIR="${1#*=}" ;;
    --dry-run) DRY=1 ;;
    --keep) KEEP=1 ;;
    --) shift; break ;;
    *) echo "launch_tpu_pod.sh: unknown option $1 (options before --, main.py flags after)" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$WORKDIR" ]; then
  echo "launch_tpu_pod.sh: --workdir=gs://... is required (every worker writes checkpoints there)" >&2
  exit 2
fi
if [ $# -eq 0 ]; then
  echo "launch_tpu_pod.sh: give the main.py flags after --, e.g. -- --config=configs/pod.py" >&2
  exit 2
fi
REPO="$(cd "$(dirname "$0")/.." && pwd)"
ARCHIVE="/tmp/vda_jax-$NAME.tar.gz"
TPU=(gcloud compute tpus tpu-vm "${PROJECT_FLAG[@]}")
MAIN_FLAGS="$(printf ' %q' "$@" --workdir="$WORKDIR" --config.distributed.coordinator=auto)"
REMOTE="cd vda_jax && bash scripts/setup.sh && .venv/bin/pip install --quiet 'jax[tpu]' \
&& .venv/bin/python -m vda_jax.commands.train${MAIN_FLAGS}"

run() {  # prints every command; runs it unless --dry-run
  printf '+'; printf ' %q' "$@"; printf '\n'
  [ "$DRY" = 1 ] || "$@"
}
cleanup() {
  if [ "$KEEP" = 0 ]; then run "${TPU[@]}" delete "$NAME" --zone="$ZONE" --quiet; fi
}

run "${TPU[@]}" create "$NAME" --zone="$ZONE" --accelerator-type="$TYPE" --version="$VERSION" "${SPOT_FLAG[@]}"
trap cleanup EXIT
run tar -czf "$ARCHIVE" -C "$REPO" --exclude=.venv --exclude=runs --exclude=.git .
run "${TPU[@]}" scp "$ARCHIVE" "$NAME:/tmp/vda_jax.tar.gz" --zone="$ZONE" --worker=all
run "${TPU[@]}" ssh "$NAME" --zone="$ZONE" --worker=all \
    --command="mkdir -p vda_jax && tar -xzf /tmp/vda_jax.tar.gz -C vda_jax"
# The same command on every worker; gcloud streams each worker's output here.
run "${TPU[@]}" ssh "$NAME" --zone="$ZONE" --worker=all --command="$REMOTE"
