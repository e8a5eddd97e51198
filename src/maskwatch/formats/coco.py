"""COCO detection JSON (``images``, ``annotations`` with xywh ``bbox``, ``categories``)."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import BadInputError
from ..labels import LABELS, UnknownLabelError, canonical_label
from .dataset import Box, Dataset, ImageRecord, Problem, finite, outside_reason


def _is_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _kind(value) -> str:
    """A JSON value's type as JSON names it, for messages."""
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(type(value), "a number")


def read_coco(
    json_path: Path,
    images_dir: Path | None = None,
    mapping=None,
    strict: bool = False,
    allow_outside: bool = False,
) -> Dataset:
    """A COCO detection JSON file as a :class:`Dataset`.

    Every entry is checked: a malformed one (an ``images`` entry without an integer ``id`` or
    a ``file_name``, a category without ``name``, an annotation whose ``bbox`` is not four
    finite numbers...) is reported as one problem naming the file and the entry
    (``images[3] (id 7)``) and skipped.

    Args:
        json_path: the JSON file.
        images_dir: where ``file_name`` paths start (also tried with ``images/``); None: the
            JSON file's folder.
        mapping: class-name aliases; None: the defaults.
        strict: raise on the first bad entry or unknown category instead of reporting it as
            a problem.
        allow_outside: read images whose ``file_name`` resolves outside ``images_dir``
            (``../``, absolute paths, symlinks out); by default they are skipped and reported.

    Returns:
        The data set; unknown categories, malformed entries, images outside the folder and
        dangling annotations are in ``problems``.

    Raises:
        BadInputError: the file cannot be read, is not JSON, or is not a COCO object (a
            top-level list, ``"images": null``...); with ``strict``, the first bad entry
            (``UnknownLabelError`` for an unknown category).
    """
    json_path = Path(json_path)
    images_dir = Path(images_dir) if images_dir else json_path.parent
    where = str(json_path)
    try:
        doc = json.loads(json_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise BadInputError(where, f"not valid COCO JSON ({exc.__class__.__name__}: {exc})") from None
    except OSError as exc:
        raise BadInputError(where, f"cannot read ({exc.strerror or exc})") from None
    if not isinstance(doc, dict):
        raise BadInputError(where, f"not COCO JSON: the top level is {_kind(doc)}, not an object with images")
    sections = {}
    for key in ("images", "annotations", "categories"):
        value = doc.get(key, [])
        if not isinstance(value, list):
            raise BadInputError(where, f'not COCO JSON: "{key}" is {_kind(value)}, not a list')
        sections[key] = value
    ds = Dataset(json_path.stem, images_dir, "coco")

    def bad(entry: str, message: str, kind: str = "bad_annotation") -> None:
        if strict:
            raise BadInputError(where, f"{entry}: {message}")
        ds.problems.append(Problem(where, kind, f"{entry}: {message}"))

    def with_ids(section: str):
        """(entry, object) for each object of ``section`` with an integer id, the entry naming
        it in messages; the other items are reported."""
        for n, item in enumerate(sections[section]):
            entry = f"{section}[{n}]"
            if not isinstance(item, dict):
                bad(entry, f"is {_kind(item)}, not an object")
                continue
            if not _is_id(item.get("id")):
                bad(entry, f"id {item.get('id')!r} is not an integer")
                continue
            yield f"{entry} (id {item['id']})", item

    categories: dict[int, str | None] = {}
    for entry, cat in with_ids("categories"):
        if not isinstance(cat.get("name"), str):
            bad(entry, "has no name" if cat.get("name") is None else f"name {cat['name']!r} is not a string")
            continue
        try:
            categories[cat["id"]] = canonical_label(cat["name"], mapping, where)
        except UnknownLabelError:
            if strict:
                raise
            categories[cat["id"]] = None
            ds.problems.append(Problem(where, "unknown_class", f"{entry}: category {cat['name']!r}"))
    by_id: dict[int, ImageRecord] = {}
    skipped: set[int] = set()
    for entry, im in with_ids("images"):
        name = im.get("file_name")
        if not isinstance(name, str) or not name.strip():
            bad(entry, "has no file_name" if name is None else f"file_name {name!r} is not a file name")
            skipped.add(im["id"])
            continue
        if im["id"] in by_id:
            bad(entry, "the same id as an earlier image")
            continue
        path = images_dir / name
        if not path.exists() and (images_dir / "images" / name).exists():
            path = images_dir / "images" / name
        reason = None if allow_outside else outside_reason(path, images_dir)
        if reason:
            bad(entry, f"file_name {name!r} {reason}", "outside_dataset")
            skipped.add(im["id"])
            continue
        width, height = im.get("width"), im.get("height")
        width = width if _is_id(width) and width > 0 else None
        height = height if _is_id(height) and height > 0 else None
        by_id[im["id"]] = ImageRecord(path, [], width, height, annotation=json_path)
    for n, ann in enumerate(sections["annotations"]):
        entry = f"annotations[{n}]"
        if not isinstance(ann, dict):
            bad(entry, f"is {_kind(ann)}, not an object")
            continue
        entry = f"annotations[{n}] (id {ann.get('id')})"
        image_id = ann.get("image_id")
        if _is_id(image_id) and image_id in skipped:
            continue  # its image was reported above
        record = by_id.get(image_id) if _is_id(image_id) else None
        category = ann.get("category_id")
        label = categories.get(category) if _is_id(category) else None
        if record is None or label is None:
            bad(entry, f"unknown image_id {image_id!r} or category_id {category!r}")
            continue
        bbox = ann.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4 or not finite(*bbox):
            bad(entry, f"bbox {bbox!r} is not four finite numbers [x, y, width, height]")
            continue
        x, y, w, h = bbox
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
