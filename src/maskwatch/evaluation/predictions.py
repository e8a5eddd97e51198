"""The raw predictions ``evaluate`` writes beside ``metrics.json``, so that anyone can
re-score them with pycocotools alone, without maskwatch, and see the faces it found.

For each evaluation run (3-class; 2-class adds ``.2class`` to the names):

- ``predictions.coco.json``: the COCO results list exactly as pycocotools was given it
  (:func:`~maskwatch.evaluation.coco_eval.coco_results`: ``image_id``, ``category_id``, xywh
  ``bbox``, ``score``; every face once per class).
- ``ground_truth.coco.json``: the COCO ground truth it was scored against
  (:func:`~maskwatch.evaluation.coco_eval.ground_truth`; image ids are data-set order).

And once, ``predictions.jsonl``: a line per image of the data set, in image-id order,
``{"image_id", "image", "faces"}``, where ``image`` is the path relative to the data set's
folder and ``faces`` the detector's faces at the evaluation's ``min_score``, each once with its
label, as the rows ``maskwatch detect --json`` writes
(:func:`~maskwatch.detections.face_rows`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..detections import Detections, face_rows
from ..formats.dataset import Dataset
from .coco_eval import label_faces

PREDICTIONS_JSONL = "predictions.jsonl"


def coco_names(classes: int) -> tuple[str, str]:
    """(predictions, ground truth) file names of a ``classes``-class evaluation."""
    suffix = "" if classes == 3 else f".{classes}class"
    return f"predictions{suffix}.coco.json", f"ground_truth{suffix}.coco.json"


def image_lines(ds: Dataset, predictions: list[Detections]):
    """The lines of ``predictions.jsonl`` (see the module), each ending in a newline."""
    for image_id, (record, rows) in enumerate(zip(ds.images, predictions)):
        name = os.path.relpath(record.path, ds.root)
        line = {"image_id": image_id, "image": name, "faces": face_rows(label_faces(rows), name)}
        yield json.dumps(line, ensure_ascii=True) + "\n"  # a name's odd bytes as \udcff, as detect --json


def write_predictions(
    out: Path, ds: Dataset, predictions: list[Detections], scored: dict[int, tuple[dict, list[dict]]]
) -> dict[str, Path]:
    """Write the files of the module into ``out`` (an existing folder).

    Args:
        out: the folder.
        ds: the data set evaluated.
        predictions: one Detections per image of ``ds`` (list index = image id), the (face,
            class) rows :func:`~maskwatch.evaluation.coco_eval.predict_dataset` returns.
        scored: by number of classes (3 and/or 2), the ground truth and the COCO results
            list pycocotools scored.

    Returns:
        The files by name: ``predictions_coco`` and ``ground_truth_coco`` (3-class),
        ``predictions_coco_2class`` and ``ground_truth_coco_2class``, ``predictions_jsonl``.

    Raises:
        OSError: a file that cannot be written.
    """
    files: dict[str, Path] = {}
    for classes, (gt, dets) in sorted(scored.items(), reverse=True):
        key = "" if classes == 3 else f"_{classes}class"
        pred_name, gt_name = coco_names(classes)
        files[f"predictions_coco{key}"] = out / pred_name
        files[f"predictions_coco{key}"].write_text(json.dumps(dets))
        files[f"ground_truth_coco{key}"] = out / gt_name
        files[f"ground_truth_coco{key}"].write_text(json.dumps(gt))
    files["predictions_jsonl"] = out / PREDICTIONS_JSONL
    with open(files["predictions_jsonl"], "w", encoding="ascii") as fh:
        fh.writelines(image_lines(ds, predictions))
    return files
