#!/usr/bin/env bash
# Reproduce the shipped one-pass detector (issue 13) on a 2-core CPU (a GPU is used where
# there is one), in two stages: train on every box-labelled set's training photos
# (configs/detector.yaml, faces of 8-128 px), then fine-tune that run's best checkpoint on
# close-ups (configs/detector-closeups-finetune.yaml: whole faces up to 256 px, faces filling
# the frame, faces cut out of other photos pasted on). Export to ONNX inside the package with
# an INT8 variant beside it, evaluate both on andrewmvd val at every profile, measure the
# close-ups, and write the model card.
# Measured: about 105 minutes on the 2-core CPU (up to 6 min of teacher landmarks, 71 min for
# the first stage, 20 x 200 steps, 19 min for the second, 6 x 200 steps, and about 10 min of
# export and evaluation); the model card gives the exact figures.
# Run end to end on 2026-12-03 on a faster 2-core CPU (AVX-512; the two-stage pipeline at
# balanced took 17.6 against 33.3 ms a frame there): 2,531 s (42 min), 2,369 s of it training
# and export. Its model matched the shipped one within val's noise (balanced 0.743 / 0.739).
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
WEIGHTS=src/maskwatch/models/weights/maskwatch-detector.onnx
RUN=runs/detector-closeups-finetune
start=$(date +%s)
maskwatch train configs/detector.yaml
maskwatch train configs/detector-closeups-finetune.yaml  # starts from runs/detector/best.pt
maskwatch export "$RUN/best.pt" "$WEIGHTS" --version "${VERSION:-0.4.2}" --int8
trained=$(date +%s)
for profile in fast balanced accurate; do
  maskwatch evaluate ../shared/datasets/andrewmvd-facemask --split val --model "$WEIGHTS" \
    --profile "$profile" --out "$RUN/eval-$profile"
  maskwatch evaluate ../shared/datasets/andrewmvd-facemask --split val --model "${WEIGHTS%.onnx}.int8.onnx" \
    --profile "$profile" --out "$RUN/eval-int8-$profile"
done
# close-ups: is each face found, with the folder's label? chandrikadeb7's crops that are
# prajnasb training photos again are left out
python scripts/closeup_labels.py ../shared/datasets/crops/chandrikadeb7 --model "$WEIGHTS" \
  --not-in ../shared/datasets/prajnasb-voc/train --out "$RUN/closeups-balanced.json" > /dev/null
# the same crops as the walk-by video shows people: 110 px faces pasted on its empty scene
python scripts/closeup_labels.py ../shared/datasets/crops/chandrikadeb7 --model "$WEIGHTS" \
  --not-in ../shared/datasets/prajnasb-voc/train --paste 110 --out "$RUN/closeups-paste110.json" > /dev/null
echo "train + export: $((trained - start)) s; with evaluation: $(($(date +%s) - start)) s" | tee "$RUN/time.txt"
python scripts/detector_card.py "$WEIGHTS" "$RUN"
