"""Class-folder crops: ``ROOT/<label>/*.jpg``; the folder name is the label (mapped)."""

from __future__ import annotations

from pathlib import Path

from ..images import IMAGE_EXTENSIONS
from ..labels import UnknownLabelError, canonical_label
from .dataset import Dataset, ImageRecord, Problem, outside_reason


def read_crops(root: Path, mapping=None, strict: bool = False, allow_outside: bool = False) -> Dataset:
    """Class folders of face crops as a :class:`Dataset`; images that resolve outside ``root``
    (symlinks out) are skipped and reported unless ``allow_outside``."""
    root = Path(root)
    ds = Dataset(root.name, root, "crops")
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            label = canonical_label(folder.name, mapping, str(folder))
        except UnknownLabelError as exc:
            if strict:
                raise
            ds.problems.append(Problem(str(folder), "unknown_class", str(exc)))
            continue
        for image in sorted(folder.rglob("*")):
            reason = None if allow_outside or not image.is_file() else outside_reason(image, root)
            if reason:
                ds.problems.append(Problem(str(image), "outside_dataset", reason))
            elif image.is_file() and image.suffix.lower() in IMAGE_EXTENSIONS:
                ds.images.append(ImageRecord(image, crop_label=label))
            elif image.is_file():
                ds.problems.append(Problem(str(image), "not_an_image", "file type is not an image"))
    return ds


def looks_like_crops(root: Path) -> bool:
    subdirs = [p for p in Path(root).iterdir() if p.is_dir()]
    if not subdirs:
        return False
    try:
        return all(canonical_label(p.name) for p in subdirs)
    except UnknownLabelError:
        return False
