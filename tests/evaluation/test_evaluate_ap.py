"""pycocotools metrics on hand-made cases whose AP is known exactly."""

import numpy as np
import pytest

pytest.importorskip("pycocotools")

from maskwatch.detections import Detections  # noqa: E402
from maskwatch.evaluation.coco_eval import coco_metrics, ground_truth  # noqa: E402
from maskwatch.formats import Box, Dataset, ImageRecord  # noqa: E402
from maskwatch.labels import LABELS  # noqa: E402


def _per_image(rows):
    """(image index, box, label, score) rows as one Detections per image, as predict_dataset
    returns them: a row's label is its class, its score the confidence."""
    out = []
    for i in range(max((r[0] for r in rows), default=-1) + 1):
        mine = [r for r in rows if r[0] == i]
        out.append(
            Detections.from_scores(
                np.array([r[1] for r in mine], np.float32).reshape(-1, 4),
                np.array([r[3] for r in mine], np.float32),
                np.eye(len(LABELS), dtype=np.float32)[[LABELS.index(r[2]) for r in mine]].reshape(-1, len(LABELS)),
            )
        )
    return out


def _ds(tmp_path):
    recs = [
        ImageRecord(
            tmp_path / "a.jpg", [Box(10, 10, 110, 110, "with_mask"), Box(200, 10, 300, 110, "with_mask")], 400, 300
        ),
        ImageRecord(
            tmp_path / "b.jpg",
            [Box(10, 10, 110, 110, "without_mask"), Box(200, 10, 300, 110, "mask_incorrect")],
            400,
            300,
        ),
    ]
    return Dataset("hand", tmp_path, "voc", recs)


def test_perfect_predictions_give_ap_1(tmp_path):
    ds = _ds(tmp_path)
    preds = _per_image([(i, b.as_list(), b.label, 0.9) for i, r in enumerate(ds.images) for b in r.boxes])
    m = coco_metrics(ground_truth(ds, 3), preds, 3)
    assert m["stats"]["mAP"] == pytest.approx(1.0)
    assert all(c["AP50"] == pytest.approx(1.0) for c in m["per_class"].values())


def test_half_found_with_full_precision(tmp_path):
    """One of two with_mask faces found: precision 1 up to recall 0.5 -> 51 of 101 recall points."""
    ds = _ds(tmp_path)
    preds = _per_image([(0, [10, 10, 110, 110], "with_mask", 0.9)])
    m = coco_metrics(ground_truth(ds, 3), preds, 3)
    assert m["per_class"]["with_mask"]["AP50"] == pytest.approx(51 / 101)
    assert m["per_class"]["without_mask"]["AP50"] == pytest.approx(0.0)


def test_false_positive_ranked_first_halves_precision(tmp_path):
    """A wrong box scored above the right one: precision 0.5 at recall 0.5, and 2/3 at recall 1
    (interpolated, so 0.5 -> 2/3 everywhere up to recall 1) for the 2-face class."""
    ds = _ds(tmp_path)
    preds = _per_image(
        [
            (0, [300, 200, 390, 290], "with_mask", 0.95),
            (0, [10, 10, 110, 110], "with_mask", 0.9),
            (0, [200, 10, 300, 110], "with_mask", 0.8),
        ]
    )
    m = coco_metrics(ground_truth(ds, 3), preds, 3)
    assert m["per_class"]["with_mask"]["AP50"] == pytest.approx(2 / 3)


def test_two_class_mode_ignores_incorrect_faces(tmp_path):
    """A detection on a mask_incorrect face is neither a hit nor a false positive in 2-class mode."""
    ds = _ds(tmp_path)
    rows = [
        (i, b.as_list(), b.label, 0.9) for i, r in enumerate(ds.images) for b in r.boxes if b.label != "mask_incorrect"
    ]
    rows.append((1, [200, 10, 300, 110], "without_mask", 0.99))  # on the incorrect face
    preds = _per_image(rows)
    m2 = coco_metrics(ground_truth(ds, 2), preds, 2)
    assert m2["stats"]["mAP50"] == pytest.approx(1.0)
    m3 = coco_metrics(ground_truth(ds, 3), preds, 3)
    assert m3["per_class"]["without_mask"]["AP50"] < 1.0
