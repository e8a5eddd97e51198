"""Format detection, loading and saving: the entry points the CLI and trainer use."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..images import image_size
from ..labels import LABELS
from .coco import coco_dict, read_coco
from .crops import looks_like_crops, read_crops
from .dataset import Dataset, Problem
from .voc import read_voc, write_voc_record
from .yolo import read_yolo, yolo_lines

FORMATS = ("voc", "coco", "yolo", "crops")


def detect_format(path: Path) -> str:
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".json":
        return "coco"
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such data set folder or COCO JSON file")
    if (path / "classes.txt").exists() or any((path / n).exists() for n in ("data.yaml", "dataset.yaml")):
        return "yolo"
    if (path / "annotations.json").exists() or (path / "instances.json").exists():
        return "coco"
    if next(path.rglob("*.xml"), None) is not None:
        return "voc"
    if looks_like_crops(path):
        return "crops"
    raise ValueError(f"{path}: cannot tell the format (no XML, classes.txt, COCO JSON or class folders); pass --format")


def load_dataset(path, fmt: str | None = None, split: str | None = None, mapping=None, strict: bool = False) -> Dataset:
    """Load any supported data set. ``split`` names a ``splits/<split>.txt`` file of stems
    (as ``data split`` writes) or a sub-folder (``train/``, ``test/``)."""
    path = Path(path)
    if split and (path / split).is_dir() and not (path / "splits" / f"{split}.txt").exists():
        path, split = path / split, None
    fmt = fmt or detect_format(path)
    if fmt == "voc":
        ds = read_voc(path, mapping, strict)
    elif fmt == "yolo":
        ds = read_yolo(path, mapping, strict)
    elif fmt == "crops":
        ds = read_crops(path, mapping, strict)
    elif fmt == "coco":
        json_path = (
            path
            if path.is_file()
            else next(p for p in (path / "annotations.json", path / "instances.json") if p.exists())
        )
        ds = read_coco(json_path, mapping=mapping, strict=strict)
    else:
        raise ValueError(f"unknown format {fmt!r}; one of {FORMATS}")
    if split:
        split_file = path / "splits" / f"{split}.txt"
        if not split_file.exists():
            raise FileNotFoundError(f"{split_file}: no such split (run `maskwatch data split` first)")
        stems = {s.strip() for s in split_file.read_text().splitlines() if s.strip()}
        ds = ds.subset(stems, f"{ds.name}:{split}")
    return ds


def fill_sizes(ds: Dataset) -> None:
    """Read width/height from image headers where annotations did not give them."""
    for record in ds.images:
        if record.width and record.height:
            continue
        try:
            record.width, record.height = image_size(record.path.read_bytes())
        except Exception as exc:
            ds.problems.append(Problem(str(record.path), "unreadable_image", f"cannot read size ({exc})"))


def save_dataset(ds: Dataset, out: Path, fmt: str, copy_images: bool = True) -> Path:
    """Write ``ds`` in ``fmt`` under ``out`` (``images/`` + labels). Returns the main file/folder."""
    out = Path(out)
    if ds.is_crops():
        raise ValueError("class-folder crops have no boxes to convert; use them as they are")
    fill_sizes(ds)
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
    raise ValueError(f"cannot write format {fmt!r}")
