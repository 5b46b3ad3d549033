#!/usr/bin/env bash
# real-mini: real COCO photos -> real unlabeled videos, scored on real DAVIS-2016 sequences.
# Sets up .venv, builds the three datasets from DIR (read in place), trains source-only,
# global, clustered, `paper` and the upper bound with the fields chosen on the val splits
# (configs/real_mini.py), and prints the table. Extra args go to scripts/experiment.py
# (e.g. --seeds=0,1,2,3,4).
#   bash scripts/real_mini.sh [DIR] [--flag=value ...]     DIR: ../shared/data/real-mini
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=../shared/data/real-mini
if [ $# -gt 0 ] && [[ "$1" != --* ]]; then
  DIR="$1"
  shift
fi
for part in coco/annotations.json coco/images videos DAVIS/JPEGImages/480p DAVIS/Annotations/480p; do
  if [ ! -e "$DIR/$part" ]; then
    echo "real_mini.sh: $DIR/$part: missing; expected the real-mini folder (coco/, videos/, DAVIS/; README 'Real photos to real videos')" >&2
    exit 2
  fi
done
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
exec .venv/bin/python scripts/experiment.py --config=configs/real_mini.py --arg="root=$DIR" \
  --workdir="${WORKDIR:-runs/real_mini}" \
  --methods=source_only,adversarial,clustered,paper,upper_bound --parallel=2 "$@"
