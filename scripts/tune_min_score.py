"""Pick the people-facing default --min-score: the threshold with the best F1 of labelled
detections (IoU >= 0.5 and the right label) on the classifier's validation holdout (10% of
andrewmvd train, never trained on; not the val or test split).

    python scripts/tune_min_score.py [--profile balanced]
"""

import argparse
from pathlib import Path

import numpy as np

from maskwatch import Detector
from maskwatch.data.split import split_dataset
from maskwatch.formats import load_dataset
from maskwatch.models.preprocess import iou_matrix

ROOT = Path(__file__).resolve().parents[1]
parser = argparse.ArgumentParser()
parser.add_argument("--profile", default="balanced")
args = parser.parse_args()
ds = load_dataset(ROOT.parent / "shared" / "datasets" / "andrewmvd-facemask", split="train")
holdout = set(split_dataset(ds, {"train": 0.9, "val": 0.1}, seed=0)["val"])
ds = ds.subset(holdout)
# every face down to 0.05, once; each threshold then only filters
det = Detector(profile=args.profile, face_threshold=0.05)
found = [(r, det.detect(r.path)) for r in ds.images]
print(f"{len(ds.images)} images, {sum(len(r.boxes) for r in ds.images)} faces, profile {args.profile}")
best = (0, None)
for threshold in np.arange(0.1, 0.75, 0.05):
    tp = fp = fn = 0
    for record, dets in found:
        faces = dets.above(float(threshold))
        labels = faces.labels
        gt = np.array([b.as_list() for b in record.boxes]).reshape(-1, 4)
        pred = faces.xyxy.astype(np.float64).reshape(-1, 4)
        ious = iou_matrix(gt, pred)
        used = set()
        for i in range(len(gt)):
            j = int(ious[i].argmax()) if ious.shape[1] else -1
            if j >= 0 and ious[i, j] >= 0.5 and j not in used and labels[j] == record.boxes[i].label:
                tp += 1
                used.add(j)
            else:
                fn += 1
        fp += len(pred) - len(used)
    p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    f1 = 2 * p * r / max(p + r, 1e-9)
    print(f"min-score {threshold:.2f}: precision {p:.3f} recall {r:.3f} F1 {f1:.3f}")
    best = max(best, (f1, round(float(threshold), 2)))
print(f"best F1 {best[0]:.3f} at --min-score {best[1]}")
