"""COCO detection JSON (``images``, ``annotations`` with xywh ``bbox``, ``categories``)."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import BadInputError
from ..labels import LABELS, UnknownLabelError, canonical_label
from .dataset import Box, Dataset, ImageRecord, Problem


def read_coco(json_path: Path, images_dir: Path | None = None, mapping=None, strict: bool = False) -> Dataset:
    """A COCO detection JSON file as a :class:`Dataset`.

    Args:
        json_path: the JSON file.
        images_dir: where ``file_name`` paths start (also tried with ``images/``); None: the
            JSON file's folder.
        mapping: class-name aliases; None: the defaults.
        strict: raise on an unknown category instead of reporting it as a problem.

    Returns:
        The data set; unknown categories and dangling annotations are in ``problems``.

    Raises:
        BadInputError: the file cannot be read or is not JSON (``UnknownLabelError`` when
            ``strict``).
    """
    json_path = Path(json_path)
    images_dir = Path(images_dir) if images_dir else json_path.parent
    try:
        doc = json.loads(json_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInputError(str(json_path), f"not valid COCO JSON ({exc})") from None
    except OSError as exc:
        raise BadInputError(str(json_path), f"cannot read ({exc.strerror or exc})") from None
    ds = Dataset(json_path.stem, images_dir, "coco")
    categories: dict[int, str | None] = {}
    for cat in doc.get("categories", []):
        try:
            categories[cat["id"]] = canonical_label(cat["name"], mapping, str(json_path))
        except UnknownLabelError:
            if strict:
                raise
            categories[cat["id"]] = None
            ds.problems.append(Problem(str(json_path), "unknown_class", f"category {cat['name']!r}"))
    by_id: dict[int, ImageRecord] = {}
    for im in doc.get("images", []):
        path = images_dir / im["file_name"]
        if not path.exists() and (images_dir / "images" / im["file_name"]).exists():
            path = images_dir / "images" / im["file_name"]
        by_id[im["id"]] = ImageRecord(path, [], im.get("width"), im.get("height"), annotation=json_path)
    for ann in doc.get("annotations", []):
        record = by_id.get(ann.get("image_id"))
        label = categories.get(ann.get("category_id"))
        if record is None or label is None:
            ds.problems.append(
                Problem(
                    str(json_path), "bad_annotation", f"annotation {ann.get('id')} has an unknown image or category"
                )
            )
            continue
        x, y, w, h = ann["bbox"]
        record.boxes.append(Box(x, y, x + w, y + h, label, bool(ann.get("iscrowd", 0))))
    ds.images = list(by_id.values())
    return ds


def coco_dict(ds: Dataset, root: Path | None = None) -> dict:
    """COCO JSON for a data set; category ids are 1 + the index in :data:`LABELS`."""
    images, annotations = [], []
    for i, record in enumerate(ds.images, 1):
        name = str(record.path.relative_to(root)) if root and record.path.is_relative_to(root) else record.path.name
        images.append({"id": i, "file_name": name, "width": record.width, "height": record.height})
        for b in record.boxes:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i,
                    "category_id": LABELS.index(b.label) + 1,
                    "bbox": [b.x1, b.y1, b.width, b.height],
                    "area": b.width * b.height,
                    "iscrowd": int(b.difficult),
                }
            )
    categories = [{"id": i + 1, "name": n, "supercategory": "face"} for i, n in enumerate(LABELS)]
    return {"images": images, "annotations": annotations, "categories": categories}
