"""End-to-end detection metrics with pycocotools, never hand-rolled AP.

Each detected face is scored for every class (face confidence x class probability), as a
multi-class detector reports per-class boxes; pycocotools keeps the top 100 per image."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np

from ..data.dataset import Dataset
from ..data.formats import fill_sizes
from ..errors import BadInputError
from ..labels import LABELS, MASK_INCORRECT
from ..progress import track

STAT_NAMES = [
    "mAP",
    "mAP50",
    "mAP75",
    "mAP_small",
    "mAP_medium",
    "mAP_large",
    "AR1",
    "AR10",
    "AR100",
    "AR_small",
    "AR_medium",
    "AR_large",
]


@dataclass
class Prediction:
    image_index: int
    box: list[float]  # x1 y1 x2 y2
    label: str
    score: float


def ground_truth(ds: Dataset, classes: int = 3) -> dict:
    """COCO GT; with ``classes=2``, mask_incorrect faces become ignore regions of both
    remaining classes (pycocotools matches crowd regions per category)."""
    fill_sizes(ds)
    labels = LABELS if classes == 3 else LABELS[:2]
    images, anns = [], []
    for i, record in enumerate(ds.images):
        images.append({"id": i, "file_name": str(record.path), "width": record.width, "height": record.height})
        for b in record.boxes:
            area = max(b.width, 0) * max(b.height, 0)
            base = {"image_id": i, "bbox": [b.x1, b.y1, b.width, b.height], "area": area}
            if classes == 2 and b.label == MASK_INCORRECT:
                for cid in (1, 2):
                    anns.append({**base, "id": len(anns) + 1, "category_id": cid, "iscrowd": 1, "ignore": 1})
            elif b.label in labels:
                anns.append(
                    {**base, "id": len(anns) + 1, "category_id": labels.index(b.label) + 1, "iscrowd": int(b.difficult)}
                )
    return {
        "images": images,
        "annotations": anns,
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(labels)],
    }


def coco_metrics(gt: dict, predictions: list[Prediction], classes: int = 3) -> dict:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    labels = LABELS if classes == 3 else LABELS[:2]
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        dets = [
            {
                "image_id": p.image_index,
                "category_id": labels.index(p.label) + 1,
                "bbox": [p.box[0], p.box[1], p.box[2] - p.box[0], p.box[3] - p.box[1]],
                "score": p.score,
            }
            for p in predictions
            if p.label in labels
        ]
        coco_dt = coco_gt.loadRes(dets) if dets else COCO()
        if not dets:
            coco_dt.dataset = {"images": gt["images"], "annotations": [], "categories": gt["categories"]}
            coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = {name: float(v) for name, v in zip(STAT_NAMES, ev.stats)}
    precision = ev.eval["precision"]  # [T, R, K, A, M]
    per_class = {}
    for k, label in enumerate(labels):
        p_all = precision[:, :, k, 0, -1]
        p50 = precision[0, :, k, 0, -1]
        per_class[label] = {
            "AP": float(p_all[p_all > -1].mean()) if (p_all > -1).any() else float("nan"),
            "AP50": float(p50[p50 > -1].mean()) if (p50 > -1).any() else float("nan"),
            "AP75": float(precision[5, :, k, 0, -1][precision[5, :, k, 0, -1] > -1].mean())
            if (precision[5, :, k, 0, -1] > -1).any()
            else float("nan"),
            "gt": sum(1 for a in gt["annotations"] if a["category_id"] == k + 1 and not a.get("iscrowd")),
        }
    return {
        "classes": classes,
        "stats": stats,
        "per_class": per_class,
        "summary": quiet.getvalue(),
        "pr_curves": {label: precision[0, :, k, 0, -1].tolist() for k, label in enumerate(labels)},
    }


def predict_dataset(
    detector, ds: Dataset, min_score: float = 0.05, progress: bool | None = None, all_classes: bool = True
) -> tuple[list[Prediction], list[str]]:
    """Run ``detector`` over every image; unreadable images are reported, not fatal."""
    preds: list[Prediction] = []
    failed: list[str] = []
    for i, record in enumerate(track(ds.images, f"evaluating {ds.name}", len(ds.images), progress)):
        try:
            raw = detector.detect_raw(record.path, face_threshold=min(min_score, detector.faces.profile.threshold))
        except BadInputError as exc:
            failed.append(str(exc))
            continue
        for box, fs, probs in zip(raw.boxes, raw.face_scores, raw.probs):
            ks = range(len(LABELS)) if all_classes else [int(np.argmax(probs))]
            for k in ks:
                score = float(fs * probs[k])
                if score >= min_score:
                    preds.append(Prediction(i, [float(v) for v in box], LABELS[k], score))
    return preds, failed


def face_recall(gt: dict, predictions: list[Prediction], iou: float = 0.5) -> float:
    """Share of annotated faces that any predicted box covers at IoU >= ``iou``, label aside:
    separates 'the face finder missed it' from 'the classifier got it wrong'."""
    from ..models.preprocess import iou_matrix

    by_image: dict[int, list] = {}
    for p in predictions:
        by_image.setdefault(p.image_index, []).append(p.box)
    hit = total = 0
    for ann in gt["annotations"]:
        if ann.get("iscrowd"):
            continue
        total += 1
        x, y, w, h = ann["bbox"]
        boxes = by_image.get(ann["image_id"], [])
        if boxes and iou_matrix(np.array([[x, y, x + w, y + h]]), np.array(boxes)).max() >= iou:
            hit += 1
    return hit / total if total else float("nan")
