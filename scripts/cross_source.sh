#!/usr/bin/env bash
# Cross-source accuracy (issue 13): train the one-pass detector without one source, then
# evaluate it, and the two-stage baseline, on every image of that source (2 classes: the
# left-out sets have no mask_incorrect). No test split is touched: andrewmvd val still picks
# the checkpoint. Each source is one full training run (about as long as the shipped one).
#   scripts/cross_source.sh webmask-yolo prajnasb-voc
# Extra arguments after `--` go to `maskwatch train` (e.g. -- --set epochs=6).
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
DATA=${MASKWATCH_DATASETS:-../shared/datasets}
sources=() extra=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; extra=("$@"); break; fi
  sources+=("$1"); shift
done
for source in "${sources[@]}"; do
  run="runs/without-$source"
  labels=()  # a set published with its classes swapped carries its own map (configs/labels/)
  [ -f "configs/labels/$source.yaml" ] && labels=(--label-map "configs/labels/$source.yaml")
  maskwatch train configs/detector.yaml --leave-out "$source" --set "out=$run" \
    --export "$run/maskwatch-detector.onnx" "${extra[@]}"
  maskwatch evaluate "$DATA/$source" --model "$run/maskwatch-detector.onnx" --classes 2 "${labels[@]}" --out "$run/eval-onepass"
  maskwatch evaluate "$DATA/$source" --model src/maskwatch/models/weights/maskwatch-classifier.onnx \
    --classes 2 "${labels[@]}" --out "$run/eval-two-stage"
done
