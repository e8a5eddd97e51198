#!/usr/bin/env bash
# Reproduce the two-stage pipeline's shipped classifier: train on the shared data (training splits only), export
# to ONNX inside the package, evaluate end to end on andrewmvd val, write the model card.
# About 25 minutes on a 2-core CPU (7 min of crops, 15-20 min of training, 2 min of evaluation).
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
WEIGHTS=src/maskwatch/models/weights/maskwatch-classifier.onnx
maskwatch train configs/default.yaml
maskwatch export runs/default/best.pt "$WEIGHTS" --version "${VERSION:-0.1.0}"
for profile in accurate balanced; do
  maskwatch evaluate ../shared/datasets/andrewmvd-facemask --split val --model "$WEIGHTS" \
    --profile "$profile" --out "runs/eval-default-$profile"
done
maskwatch evaluate ../shared/datasets/andrewmvd-facemask --split val --model "$WEIGHTS" --classifier-only \
  --out runs/classifier-eval
python scripts/model_card.py "$WEIGHTS" runs/default --notes docs/model-experiments.md
