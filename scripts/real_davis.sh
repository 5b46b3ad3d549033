#!/usr/bin/env bash
# Salient photos -> DAVIS: DUTS-TR photos (labeled) -> DAVIS-2016 train sequences (unlabeled),
# scored on DAVIS-2016 val, with an ImageNet EfficientNet-Lite0. Sets up .venv with the
# weights, builds the two datasets from DIR (read in place), trains source-only, global,
# clustered, `paper` and the upper bound (configs/real_davis.py), and prints the table.
# Extra args go to scripts/experiment.py (e.g. --seeds=0,1,2,3,4).
#   bash scripts/real_davis.sh [DIR] [--flag=value ...]     DIR: ../shared/data/real-mini
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=../shared/data/real-mini
if [ $# -gt 0 ] && [[ "$1" != --* ]]; then
  DIR="$1"
  shift
fi
for part in DUTS/DUTS-TR/DUTS-TR-Image DUTS/DUTS-TR/DUTS-TR-Mask DAVIS/JPEGImages/480p \
    DAVIS/Annotations/480p; do
  if [ ! -e "$DIR/$part" ]; then
    echo "real_davis.sh: $DIR/$part: missing; expected the real-mini folder (DUTS/, DAVIS/; docs/usage.md 'Real data')" >&2
    exit 2
  fi
done
bash scripts/setup.sh pretrained
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
exec .venv/bin/python scripts/experiment.py --config=configs/real_davis.py --arg="root=$DIR" \
  --workdir="${WORKDIR:-runs/real_davis}" \
  --methods=source_only,adversarial,clustered,paper,upper_bound --parallel=2 "$@"
