"""End-to-end detection metrics with pycocotools, never hand-rolled AP.

Each detected face is scored for every class (face confidence x class probability), as a
multi-class detector reports per-class boxes; pycocotools keeps the top 100 per image.

Predictions are one :class:`~maskwatch.detections.Detections` per image, in data-set order,
whose rows are (face, class) pairs: ``class_id`` is the class scored and ``confidence`` that
class's score, so a face may appear once per class. They go to pycocotools as its result
dicts directly; no other record type is needed."""

from __future__ import annotations

import contextlib
import dataclasses
import io

import numpy as np

from ..defaults import EVALUATION_MIN_SCORE
from ..detections import Detections
from ..errors import BadInputError
from ..formats import fill_sizes
from ..formats.dataset import Dataset
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


def evaluated_labels(classes: int) -> tuple[str, ...]:
    """The labels a ``classes``-class evaluation scores, category id = index + 1: all three, or
    (with 2) all but mask_incorrect."""
    return LABELS if classes == 3 else LABELS[:2]


def ground_truth(ds: Dataset, classes: int = 3) -> dict:
    """COCO GT; with ``classes=2``, mask_incorrect faces become ignore regions of both
    remaining classes (pycocotools matches crowd regions per category).

    Args:
        ds: the annotated data set (image sizes are read where annotations lack them).
        classes: 3, or 2 (mask_incorrect faces ignored).

    Returns:
        A COCO ground-truth dict; image ids are indexes into ``ds.images``.
    """
    fill_sizes(ds)
    labels = evaluated_labels(classes)
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


def coco_results(predictions: list[Detections], labels: tuple[str, ...] = LABELS) -> list[dict]:
    """pycocotools' result dicts (``image_id``, ``category_id``, xywh ``bbox``, ``score``).

    Args:
        predictions: one Detections per image; the list index is the image id.
        labels: the categories evaluated (category id = index + 1); rows of other labels
            are left out.

    Returns:
        The result dicts, image by image, each image's rows in their order.
    """
    out = []
    for image_id, dets in enumerate(predictions):
        for (x1, y1, x2, y2), k, score in zip(dets.xyxy.tolist(), dets.class_id.tolist(), dets.confidence.tolist()):
            label = LABELS[k]
            if label in labels:
                out.append(
                    {
                        "image_id": image_id,
                        "category_id": labels.index(label) + 1,
                        "bbox": [x1, y1, x2 - x1, y2 - y1],
                        "score": score,
                    }
                )
    return out


def coco_metrics(gt: dict, predictions: list[Detections], classes: int = 3) -> dict:
    """COCO box metrics of ``predictions`` against ``gt``, computed by pycocotools.

    Args:
        gt: from :func:`ground_truth` with the same ``classes``.
        predictions: one Detections per image of ``gt`` (list index = image id), as
            :func:`predict_dataset` returns.
        classes: 3, or 2 (mask_incorrect rows are left out).

    Returns:
        ``classes``, ``stats`` (:data:`STAT_NAMES`), ``per_class`` AP/AP50/AP75 and face
        count, pycocotools' printed ``summary`` and the IoU 0.5 ``pr_curves``.
    """
    return score_results(gt, coco_results(predictions, evaluated_labels(classes)), classes)


def score_results(gt: dict, dets: list[dict], classes: int = 3) -> dict:
    """:func:`coco_metrics` of a COCO results list (:func:`coco_results`): ``evaluate``
    scores the very list it writes to ``predictions.coco.json``."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    labels = evaluated_labels(classes)
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        # a copy: loadRes adds area, id and iscrowd to the dicts it is given
        coco_dt = coco_gt.loadRes([dict(d) for d in dets]) if dets else COCO()
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


def class_rows(dets: Detections, min_score: float, all_classes: bool = True) -> Detections:
    """A face's score for each class (face score x that class's probability) as one row per
    (face, class) pair, the way a multi-class detector reports per-class boxes.

    Args:
        dets: one image's faces, as :meth:`~maskwatch.Detector.detect` returns them.
        min_score: rows scoring lower are dropped (compared in double precision).
        all_classes: a row for every class; False: only each face's most probable class.

    Returns:
        The rows, face by face in the face finder's order (by face score), classes in
        :data:`~maskwatch.labels.LABELS` order within a face.
    """
    if dets.is_empty():
        return dets
    # the face finder's order (NMS sorts by face score), so tied scores rank as they always did
    dets = dets[np.argsort(-dets.face_score, kind="stable")]
    n, k = len(dets), len(LABELS)
    scores = dets.face_score[:, None] * dets.probs  # float32, as the detector scores
    if all_classes:
        face = np.repeat(np.arange(n), k)
        class_id = np.tile(np.arange(k), n)
    else:
        face = np.arange(n)
        class_id = dets.probs.argmax(1)
    rows = dataclasses.replace(dets[face], confidence=scores[face, class_id], class_id=class_id)
    return rows.above(min_score)


def label_faces(rows: Detections) -> Detections:
    """The faces behind :func:`class_rows`' rows, each once: its row for its label (its most
    probable class), whose confidence is face score x that probability, as
    :meth:`~maskwatch.Detector.detect` scores it; sorted by confidence, as ``detect`` sorts.

    A face's label row is its highest-scoring row, so it is kept whenever any row of the face
    is: these are exactly the faces the detector reports at the same ``min_score``.

    Args:
        rows: one image's (face, class) rows, as :func:`class_rows` returns them.

    Returns:
        One row per face, ``class_id`` its label.
    """
    if rows.is_empty():
        return rows
    faces = rows[rows.class_id == rows.probs.argmax(1)]
    return faces[np.argsort(-faces.confidence, kind="stable")]


def predict_dataset(
    detector,
    ds: Dataset,
    min_score: float = EVALUATION_MIN_SCORE,
    progress: bool | None = None,
    all_classes: bool = True,
) -> tuple[list[Detections], list[str]]:
    """Run ``detector`` over every image; unreadable images are reported, not fatal.

    The detector's face threshold should be at most ``min_score`` for the precision-recall
    curve to be complete (:meth:`maskwatch.settings.EvaluateSettings.detector` builds one so).

    Args:
        detector: a :class:`~maskwatch.Detector`.
        ds: the data set.
        min_score: (face, class) rows scoring lower are dropped.
        progress: show a progress bar (None: when on a terminal).
        all_classes: score every face for every class (COCO style); False: its label only.

    Returns:
        (one Detections per image of ``ds``, in order, with rows as :func:`class_rows` makes
        them, empty for unreadable images; the unreadable images' error messages).
    """
    preds: list[Detections] = []
    failed: list[str] = []
    for record in track(ds.images, f"evaluating {ds.name}", len(ds.images), progress):
        try:
            dets = detector.detect(record.path)
        except BadInputError as exc:
            failed.append(str(exc))
            preds.append(Detections.empty())
            continue
        preds.append(class_rows(dets, min_score, all_classes))
    return preds, failed


def face_recall(gt: dict, predictions: list[Detections], iou: float = 0.5) -> float:
    """Share of annotated faces that any predicted box covers at IoU >= ``iou``, label aside:
    separates 'the face finder missed it' from 'the classifier got it wrong'.

    Args:
        gt: from :func:`ground_truth`.
        predictions: one Detections per image (list index = image id).
        iou: the overlap that counts as found.

    Returns:
        The share found, or NaN where ``gt`` has no faces.
    """
    from ..models.preprocess import iou_matrix

    hit = total = 0
    for ann in gt["annotations"]:
        if ann.get("iscrowd"):
            continue
        total += 1
        x, y, w, h = ann["bbox"]
        i = ann["image_id"]
        boxes = predictions[i].xyxy.astype(np.float64) if i < len(predictions) else np.zeros((0, 4))
        if len(boxes) and iou_matrix(np.array([[x, y, x + w, y + h]]), boxes).max() >= iou:
            hit += 1
    return hit / total if total else float("nan")
