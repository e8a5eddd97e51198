"""Face crops for the classifier, from any box data set or crop folder.

Where a face detector is given, each annotated face is cropped around the *detector's* box
that matches it (IoU >= 0.4), with the annotated label: the classifier then trains on the
exact crop style it sees at inference, and the matched pairs teach the box correction."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import BadInputError
from ..formats.dataset import Dataset, Problem
from ..images import read_image
from ..models.preprocess import DEFAULT_MARGIN, DEFAULT_SIZE, crop_face, iou_matrix
from ..progress import track


@dataclass
class CropResult:
    written: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    #: (detector box, annotated box) pairs, for learning the box-style correction
    pairs: list[tuple[list[float], list[float]]] = field(default_factory=list)


def _save(crop: np.ndarray, out: Path, label: str, name: str, result: CropResult) -> None:
    folder = out / label
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / f"{name}.jpg"), crop, [cv2.IMWRITE_JPEG_QUALITY, 95])
    result.written[label] = result.written.get(label, 0) + 1


def extract_crops(
    ds: Dataset,
    out: Path,
    detector=None,
    size: int = DEFAULT_SIZE,
    margin: float = DEFAULT_MARGIN,
    min_face: int = 6,
    prefix: str | None = None,
    progress: bool | None = None,
) -> CropResult:
    out = Path(out)
    result = CropResult()
    prefix = prefix or ds.name.replace(":", "_")
    for record in track(ds.images, f"cropping {ds.name}", len(ds.images), progress):
        try:
            image = read_image(record.path)
        except BadInputError as exc:
            result.problems.append(Problem(str(record.path), "unreadable_image", exc.reason))
            continue
        uid = hashlib.sha1(str(record.path).encode()).hexdigest()[:6]
        if record.crop_label:
            box = [0, 0, image.shape[1], image.shape[0]]
            if detector is not None:
                found = detector(image)
                if len(found.scores):
                    best = int(np.argmax(found.scores))
                    b = found.boxes[best]
                    # only trust a detection that is a substantial part of the picture
                    if (b[2] - b[0]) * (b[3] - b[1]) > 0.08 * image.shape[0] * image.shape[1]:
                        box = b.tolist()
            # whole-image crops are already framed as faces: no extra margin
            margin_here = margin if box[2] - box[0] < image.shape[1] * 0.95 else 0.0
            _save(
                crop_face(image, box, size, margin_here),
                out,
                record.crop_label,
                f"{prefix}_{record.stem}_{uid}",
                result,
            )
            continue
        gts = [b for b in record.boxes if b.width >= min_face and b.height >= min_face]
        crop_boxes = [b.as_list() for b in gts]
        if detector is not None and gts:
            found = detector(image)
            ious = iou_matrix(np.array(crop_boxes), found.boxes)
            for i in range(len(gts)):
                if ious.shape[1] and ious[i].max() >= 0.4:
                    j = int(ious[i].argmax())
                    result.pairs.append((found.boxes[j].tolist(), crop_boxes[i]))
                    crop_boxes[i] = found.boxes[j].tolist()
        for i, (gt, box) in enumerate(zip(gts, crop_boxes)):
            _save(crop_face(image, box, size, margin), out, gt.label, f"{prefix}_{record.stem}_{uid}_{i}", result)
    return result


def fit_box_correction(pairs: list[tuple[list[float], list[float]]]) -> list[float]:
    """Median offsets (dx1, dy1, dx2, dy2) as fractions of the detector box's width/height.

    Hand-drawn boxes are larger than CenterFace's around the chin and forehead; applying
    the median offset moves detector boxes onto the annotators' style (helps mAP@.75)."""
    if not pairs:
        return [0.0, 0.0, 0.0, 0.0]
    det = np.array([p[0] for p in pairs], np.float64)
    gt = np.array([p[1] for p in pairs], np.float64)
    w = np.maximum(det[:, 2] - det[:, 0], 1)
    h = np.maximum(det[:, 3] - det[:, 1], 1)
    offsets = (gt - det) / np.stack([w, h, w, h], 1)
    return [round(float(v), 4) for v in np.median(offsets, axis=0)]


def save_crop_summary(result: CropResult, path: Path) -> None:
    path.write_text(
        json.dumps(
            {
                "written": result.written,
                "problems": [str(p) for p in result.problems],
                "box_correction": fit_box_correction(result.pairs),
                "pairs": len(result.pairs),
            },
            indent=1,
        )
    )
