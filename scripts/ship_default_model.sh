#!/usr/bin/env bash
# Reproduce the shipped one-pass detector (issue 13) on a 2-core CPU (a GPU is used where
# there is one): train on every box-labelled set's training photos (configs/detector.yaml),
# export to ONNX inside the package with an INT8 variant beside it, evaluate both on
# andrewmvd val at every profile, and write the model card.
# Measured: about 80 minutes on the 2-core CPU (up to 6 min of teacher landmarks, 71 min of
# training, 20 x 200 steps, and about 4 min of export and evaluation); the model card gives the
# exact figures.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
WEIGHTS=src/maskwatch/models/weights/maskwatch-detector.onnx
RUN=runs/detector
start=$(date +%s)
maskwatch train configs/detector.yaml
maskwatch export "$RUN/best.pt" "$WEIGHTS" --version "${VERSION:-0.3.0}" --int8
trained=$(date +%s)
for profile in fast balanced accurate; do
  maskwatch evaluate ../shared/datasets/andrewmvd-facemask --split val --model "$WEIGHTS" \
    --profile "$profile" --out "$RUN/eval-$profile"
  maskwatch evaluate ../shared/datasets/andrewmvd-facemask --split val --model "${WEIGHTS%.onnx}.int8.onnx" \
    --profile "$profile" --out "$RUN/eval-int8-$profile"
done
# close-ups it never trained on: is each face found, with the folder's label?
python scripts/closeup_labels.py ../shared/datasets/crops/chandrikadeb7 --model "$WEIGHTS" \
  --out "$RUN/closeups-balanced.json" > /dev/null
echo "train + export: $((trained - start)) s; with evaluation: $(($(date +%s) - start)) s" | tee "$RUN/time.txt"
python scripts/detector_card.py "$WEIGHTS" "$RUN"
