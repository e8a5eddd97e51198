#!/usr/bin/env bash
# Cross-source accuracy (issue 13): train the one-pass detector without one source, then
# evaluate it, and the two-stage baseline, on every image of that source (2 classes: the
# left-out sets have no mask_incorrect). No test split is touched: andrewmvd val still picks
# the checkpoint. Each source is the shipped recipe's two stages, both without the source
# (configs/detector.yaml into runs/shipped-without-<source>-first, then the close-ups fine-tune
# configs/detector-closeups-finetune.yaml from its best checkpoint into
# runs/shipped-without-<source>), about as long as scripts/ship_default_model.sh's training
# (about 40 minutes a source on 2026-12-03's 2-core CPU).
#   scripts/cross_source.sh webmask-yolo prajnasb-voc
# Extra arguments after `--` go to each stage's `maskwatch train` (e.g. -- --set epochs=6);
# PROFILES="fast balanced" evaluates at more than one profile; SPLIT=train evaluates one split
# only (what was run for prajnasb-voc, whose test split stays untouched);
# CONFIG=configs/detector-closeups.yaml trains another recipe in one stage (its runs are
# runs/detector-closeups-without-<source>); FINETUNE= skips the second stage; RUN=runs/x names
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
prefix=runs/shipped- finetune=configs/detector-closeups-finetune.yaml
[ "$CONFIG" = configs/detector.yaml ] || { prefix="runs/$(basename "$CONFIG" .yaml)-"; finetune=; }
FINETUNE=${FINETUNE-$finetune}
for source in "${sources[@]}"; do
  run="${RUN:-${prefix}without-$source}"
  labels=()  # a set published with its classes swapped carries its own map (configs/labels/)
  [ -f "configs/labels/$source.yaml" ] && labels=(--label-map "configs/labels/$source.yaml")
  if [ -n "$FINETUNE" ]; then
    maskwatch train "$CONFIG" --leave-out "$source" --set "out=$run-first" "${extra[@]}"
    maskwatch train "$FINETUNE" --leave-out "$source" --set "detector.init=$run-first/best.pt" \
      --set "out=$run" --export "$run/maskwatch-detector.onnx" "${extra[@]}"
  else
    maskwatch train "$CONFIG" --leave-out "$source" --set "out=$run" \
      --export "$run/maskwatch-detector.onnx" "${extra[@]}"
  fi
  # at the product's default profile (evaluate's own default is accurate, 1024-1280 px)
  for profile in ${PROFILES:-balanced}; do
    maskwatch evaluate "$DATA/$source" ${SPLIT:+--split "$SPLIT"} --model "$run/maskwatch-detector.onnx" --classes 2 "${labels[@]}" \
      --profile "$profile" --out "$run/eval-onepass-$profile"
    maskwatch evaluate "$DATA/$source" ${SPLIT:+--split "$SPLIT"} --model two-stage --classes 2 "${labels[@]}" \
      --profile "$profile" --out "$run/eval-two-stage-$profile"
  done
done
