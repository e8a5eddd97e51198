"""``maskwatch evaluate``: the detector end to end on an annotated data set."""

from __future__ import annotations

from pathlib import Path

from ..data.formats import load_dataset
from .coco_eval import coco_metrics, face_recall, ground_truth, predict_dataset
from .report import write_report


def evaluate_detector(
    detector,
    data: str,
    split: str | None = None,
    fmt: str | None = None,
    min_score: float = 0.05,
    classes: tuple[int, ...] = (3, 2),
    out: Path | None = None,
    label_map=None,
    progress: bool | None = None,
) -> dict:
    ds = load_dataset(data, fmt, split, label_map)
    preds, failed = predict_dataset(detector, ds, min_score, progress)
    results: dict = {
        "dataset": f"{data}{':' + split if split else ''}",
        "images": len(ds.images),
        "model": detector.model_version,
        "profile": detector.profile,
        "min_score": min_score,
        "failed_images": failed,
        "problems": [str(p) for p in ds.problems],
    }
    gt3 = ground_truth(ds, 3)
    results["face_recall50"] = face_recall(gt3, preds)
    if 3 in classes:
        results["three_class"] = coco_metrics(gt3, preds, 3)
    if 2 in classes:
        results["two_class"] = coco_metrics(ground_truth(ds, 2), preds, 2)
    if out:
        results["files"] = {k: str(v) for k, v in write_report(results, Path(out)).items()}
    return results
