"""Data-set formats: readers and writers of PascalVOC, COCO, YOLO, class-folder crops and
TFRecord, all into and out of one in-memory :class:`Dataset`.

Format detection, loading and saving here are the entry points the CLI, the trainer and
evaluation use; the data *tools* (check, stats, split, crops, synthetic masks...) live in
:mod:`maskwatch.data`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..errors import BadInputError, ConfigError
from ..images import image_size
from ..labels import LABELS
from .coco import coco_dict, read_coco
from .crops import looks_like_crops, read_crops
from .dataset import Box, Dataset, ImageRecord, Problem, finite
from .voc import read_voc, write_voc_record
from .yolo import read_yolo, yolo_lines

#: formats :func:`load_dataset` reads
FORMATS = ("voc", "coco", "yolo", "crops")
#: formats :func:`save_dataset` writes
WRITE_FORMATS = ("voc", "coco", "yolo", "tfrecord")

__all__ = [
    "FORMATS",
    "WRITE_FORMATS",
    "Box",
    "Dataset",
    "ImageRecord",
    "Problem",
    "detect_format",
    "fill_sizes",
    "load_dataset",
    "save_dataset",
]


def detect_format(path: Path) -> str:
    """The format of the data set at ``path``, from the files it holds.

    Args:
        path: a data set folder or a COCO JSON file.

    Returns:
        One of :data:`FORMATS`.

    Raises:
        BadInputError: ``path`` does not exist, or no known format's files are in it.
    """
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".json":
        return "coco"
    if not path.is_dir():
        raise BadInputError(str(path), "no such data set folder or COCO JSON file")
    if (path / "classes.txt").exists() or any((path / n).exists() for n in ("data.yaml", "dataset.yaml")):
        return "yolo"
    if (path / "annotations.json").exists() or (path / "instances.json").exists():
        return "coco"
    if next(path.rglob("*.xml"), None) is not None:
        return "voc"
    if looks_like_crops(path):
        return "crops"
    raise BadInputError(
        str(path), "cannot tell the format (no XML, classes.txt, COCO JSON or class folders); pass --format"
    )


def load_dataset(
    path,
    fmt: str | None = None,
    split: str | None = None,
    mapping=None,
    strict: bool = False,
    allow_outside: bool = False,
) -> Dataset:
    """Load any supported data set.

    Readers collect what is wrong with single files (a malformed XML, an unknown class, a
    missing image) as :class:`Problem` entries in ``Dataset.problems`` instead of stopping,
    unless ``strict``.

    Args:
        path: a data set folder or a COCO JSON file.
        fmt: one of :data:`FORMATS`; None: detected from the files.
        split: a ``splits/<split>.txt`` file of stems (as ``data split`` writes) or a
            sub-folder (``train/``, ``test/``); None: everything.
        mapping: class-name aliases (:func:`maskwatch.labels.load_label_map`); None: the
            default aliases.
        strict: raise on the first bad file instead of collecting problems.
        allow_outside: read images and labels that resolve outside the data set's folder
            (a COCO ``file_name`` of ``../x`` or ``/etc/x``, a symlink out). By default they
            are skipped and reported as ``outside_dataset`` problems, so a hostile data set
            cannot make the data tools read, copy or print other local files.

    Returns:
        The :class:`Dataset`.

    Raises:
        BadInputError: no such data set, a format that cannot be told, or (``strict``) a
            bad file (:class:`~maskwatch.labels.UnknownLabelError` for unknown classes).
        ConfigError: an unknown ``fmt`` or a ``split`` that does not exist.
    """
    path = Path(path)
    if split and (path / split).is_dir() and not (path / "splits" / f"{split}.txt").exists():
        path, split = path / split, None
    fmt = fmt or detect_format(path)
    if fmt == "voc":
        ds = read_voc(path, mapping, strict, allow_outside)
    elif fmt == "yolo":
        ds = read_yolo(path, mapping, strict, allow_outside)
    elif fmt == "crops":
        ds = read_crops(path, mapping, strict, allow_outside)
    elif fmt == "coco":
        json_path = (
            path
            if path.is_file()
            else next((p for p in (path / "annotations.json", path / "instances.json") if p.exists()), None)
        )
        if json_path is None:
            raise BadInputError(str(path), "no annotations.json or instances.json (COCO) in this folder")
        ds = read_coco(json_path, mapping=mapping, strict=strict, allow_outside=allow_outside)
    else:
        raise ConfigError(f"format: unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    if split:
        split_file = path / "splits" / f"{split}.txt"
        if not split_file.exists():
            raise ConfigError(f"split: {split_file}: no such split (run `maskwatch data split` first)")
        stems = {s.strip() for s in split_file.read_text().splitlines() if s.strip()}
        ds = ds.subset(stems, f"{ds.name}:{split}")
    return ds


def fill_sizes(ds: Dataset) -> None:
    """Read width/height from image headers where annotations did not give them.

    Args:
        ds: the data set, changed in place; unreadable images become problems.
    """
    for record in ds.images:
        if record.width and record.height:
            continue
        try:
            record.width, record.height = image_size(record.path.read_bytes())
        except Exception as exc:
            ds.problems.append(Problem(str(record.path), "unreadable_image", f"cannot read size ({exc})"))


def save_dataset(ds: Dataset, out: Path, fmt: str, copy_images: bool = True) -> Path:
    """Write ``ds`` in ``fmt`` under ``out`` (``images/`` + labels).

    Images that cannot be written (a box with NaN/inf coordinates, an unreadable image) are
    removed from ``ds.images`` and reported in ``ds.problems``, so the caller can say what
    was left out.

    Args:
        ds: the data set (boxes, not class-folder crops).
        out: the folder to write.
        fmt: one of :data:`WRITE_FORMATS`.
        copy_images: copy the images into ``out/images`` too.

    Returns:
        The main file or folder written (the folder, or the COCO JSON / TFRecord file).

    Raises:
        ConfigError: an unknown ``fmt``.
        BadInputError: ``ds`` is class-folder crops, which have no boxes to convert.
    """
    out = Path(out)
    if fmt not in WRITE_FORMATS:
        raise ConfigError(f"to: cannot write format {fmt!r}; one of {', '.join(WRITE_FORMATS)}")
    if ds.is_crops():
        raise BadInputError(str(ds.root), "class-folder crops have no boxes to convert; use them as they are")
    fill_sizes(ds)
    kept = []
    for record in ds.images:
        bad = next((b for b in record.boxes if not finite(*b.as_list())), None)
        if bad is not None:  # never write NaN/inf into a label file
            where = str(record.annotation or record.path)
            ds.problems.append(Problem(where, "bad_annotation", f"non-finite box {bad.as_list()}; image not written"))
        elif not (record.width and record.height):
            continue  # fill_sizes reported it: a label format needs the size
        else:
            kept.append(record)
    ds.images[:] = kept
    (out / "images").mkdir(parents=True, exist_ok=True)
    names: dict[int, str] = {}
    used: set[str] = set()
    for i, record in enumerate(ds.images):
        name = record.path.name
        if name in used:  # the same file name from two sub-folders: keep both
            name = f"{record.path.stem}_{i}{record.path.suffix}"
        used.add(name)
        names[i] = name
        if copy_images:
            shutil.copy2(record.path, out / "images" / name)
    if fmt == "voc":
        for i, record in enumerate(ds.images):
            write_voc_record(record, out / "annotations" / f"{Path(names[i]).stem}.xml", record.width, record.height)
        return out
    if fmt == "yolo":
        (out / "labels").mkdir(exist_ok=True)
        (out / "classes.txt").write_text("\n".join(LABELS) + "\n")
        for i, record in enumerate(ds.images):
            (out / "labels" / f"{Path(names[i]).stem}.txt").write_text(
                yolo_lines(record, record.width, record.height, list(LABELS))
            )
        return out
    if fmt == "coco":
        doc = coco_dict(ds)
        for i, entry in enumerate(doc["images"]):
            entry["file_name"] = f"images/{names[i]}"
        target = out / "annotations.json"
        target.write_text(json.dumps(doc, indent=1))
        return target
    if fmt == "tfrecord":
        from .tfrecord import write_tfrecord

        return write_tfrecord(ds, out)
    raise ConfigError(f"to: cannot write format {fmt!r}; one of {', '.join(WRITE_FORMATS)}")
