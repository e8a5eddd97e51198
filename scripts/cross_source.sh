#!/usr/bin/env bash
# Cross-source accuracy (issue 13): train the one-pass detector without one source, then
# evaluate it, and the two-stage baseline, on every image of that source (2 classes: the
# left-out sets have no mask_incorrect). No test split is touched: andrewmvd val still picks
# the checkpoint. Each source is one full training run (about as long as the shipped one).
#   scripts/cross_source.sh webmask-yolo prajnasb-voc
# Extra arguments after `--` go to `maskwatch train` (e.g. -- --set epochs=6); PROFILES="fast
# balanced" evaluates at more than one profile; SPLIT=train evaluates one split only (what was
# run for prajnasb-voc, whose test split stays untouched); CONFIG=configs/detector-closeups.yaml
# trains another recipe (its runs are runs/detector-closeups-without-<source>); RUN=runs/x names
# the run's folder (one source).
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
DATA=${MASKWATCH_DATASETS:-../shared/datasets}
sources=() extra=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; extra=("$@"); break; fi
  sources+=("$1"); shift
done
CONFIG=${CONFIG:-configs/detector.yaml}
prefix=runs/
[ "$CONFIG" = configs/detector.yaml ] || prefix="runs/$(basename "$CONFIG" .yaml)-"
for source in "${sources[@]}"; do
  run="${RUN:-${prefix}without-$source}"
  labels=()  # a set published with its classes swapped carries its own map (configs/labels/)
  [ -f "configs/labels/$source.yaml" ] && labels=(--label-map "configs/labels/$source.yaml")
  maskwatch train "$CONFIG" --leave-out "$source" --set "out=$run" \
    --export "$run/maskwatch-detector.onnx" "${extra[@]}"
  # at the product's default profile (evaluate's own default is accurate, 1024-1280 px)
  for profile in ${PROFILES:-balanced}; do
    maskwatch evaluate "$DATA/$source" ${SPLIT:+--split "$SPLIT"} --model "$run/maskwatch-detector.onnx" --classes 2 "${labels[@]}" \
      --profile "$profile" --out "$run/eval-onepass-$profile"
    maskwatch evaluate "$DATA/$source" ${SPLIT:+--split "$SPLIT"} --model two-stage --classes 2 "${labels[@]}" \
      --profile "$profile" --out "$run/eval-two-stage-$profile"
  done
done
