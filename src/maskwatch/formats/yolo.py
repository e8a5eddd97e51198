"""YOLO text labels: ``labels/NAME.txt`` with ``class cx cy w h`` normalised to 0..1, and
class names in ``classes.txt`` (one a line) or a ``data.yaml`` (``names:`` list or dict)."""

from __future__ import annotations

from pathlib import Path

from ..errors import BadInputError
from ..images import IMAGE_EXTENSIONS
from ..labels import UnknownLabelError, canonical_label
from .dataset import Box, Dataset, ImageRecord, Problem, finite, outside_reason


def read_class_names(root: Path, allow_outside: bool = False) -> list[str]:
    """The class names of a YOLO data set, in class-id order.

    Args:
        root: the data set folder (``classes.txt``, or ``data.yaml``/``dataset.yaml`` names).

    Returns:
        The names as written (not yet mapped onto maskwatch's labels).

    Raises:
        BadInputError: neither file is there, or (without ``allow_outside``) the one there
            is a symlink out of ``root``.
    """
    for name in ("classes.txt", "data.yaml", "dataset.yaml", "data.yml"):
        reason = None if allow_outside or not (root / name).exists() else outside_reason(root / name, root)
        if reason:
            raise BadInputError(str(root / name), reason)
    classes = root / "classes.txt"
    if classes.exists():
        return [line.strip() for line in classes.read_text(encoding="utf-8").splitlines() if line.strip()]
    for name in ("data.yaml", "dataset.yaml", "data.yml"):
        if (root / name).exists():
            import yaml

            names = (yaml.safe_load((root / name).read_text(encoding="utf-8")) or {}).get("names")
            if isinstance(names, dict):
                return [str(names[k]) for k in sorted(names, key=int)]
            if isinstance(names, list):
                return [str(n) for n in names]
    raise BadInputError(str(root), "YOLO data needs classes.txt or data.yaml with names")


def _label_path(image: Path, root: Path) -> Path:
    rel = image.relative_to(root)
    parts = list(rel.parts)
    if "images" in parts:
        parts[parts.index("images")] = "labels"
        return (root / Path(*parts)).with_suffix(".txt")
    return image.with_suffix(".txt")


def read_yolo(root: Path, mapping=None, strict: bool = False, allow_outside: bool = False) -> Dataset:
    """A YOLO data set (images, ``labels/*.txt``, class names) as a :class:`Dataset`.

    Args:
        root: the data set folder (searched recursively for images).
        mapping: class-name aliases; None: the defaults.
        strict: raise on an unknown class id instead of reporting it as a problem.
        allow_outside: read images and label files that resolve outside ``root`` (symlinks
            out); by default they are skipped and reported as ``outside_dataset`` problems.

    Returns:
        The data set; lines that do not parse, non-finite coordinates and unknown class ids
        are in ``problems``, one per line of a label file.
    """
    from ..images import image_size

    root = Path(root)
    ds = Dataset(root.name, root, "yolo")
    raw_names = read_class_names(root, allow_outside)
    names: list[str | None] = []
    for n in raw_names:
        try:
            names.append(canonical_label(n, mapping, str(root / "classes.txt")))
        except UnknownLabelError:
            if strict:
                raise
            names.append(None)
    for image in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()):
        label_file = _label_path(image, root)
        reason = None if allow_outside else outside_reason(image, root)
        if reason is None and not allow_outside and (label_file.exists() or label_file.is_symlink()):
            reason = outside_reason(label_file, root)
            where = str(label_file)
        else:
            where = str(image)
        if reason:
            ds.problems.append(Problem(where, "outside_dataset", reason))
            continue
        record = ImageRecord(image, [], annotation=label_file if label_file.exists() else None)
        ds.images.append(record)
        if not label_file.exists():
            continue
        try:
            w, h = image_size(image.read_bytes())
        except Exception as exc:
            ds.problems.append(Problem(str(image), "unreadable_image", f"cannot read size ({exc.__class__.__name__})"))
            continue
        record.width, record.height = w, h
        for n, line in enumerate(label_file.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            fields = line.split()
            try:
                cls, cx, cy, bw, bh = int(fields[0]), *map(float, fields[1:5])
            except (ValueError, IndexError):
                ds.problems.append(Problem(f"{label_file}:{n}", "bad_annotation", f"cannot parse {line[:80]!r}"))
                continue
            if not finite(cx, cy, bw, bh):
                ds.problems.append(
                    Problem(f"{label_file}:{n}", "bad_annotation", f"non-finite coordinate in {line[:80]!r}")
                )
                continue
            if not 0 <= cls < len(names) or names[cls] is None:
                msg = f"class id {cls} is not in the class list {raw_names}"
                if strict:
                    raise UnknownLabelError(str(cls), f"{label_file}:{n}")
                ds.problems.append(Problem(f"{label_file}:{n}", "unknown_class", msg))
                continue
            record.boxes.append(
                Box((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h, names[cls])
            )
    return ds


def yolo_lines(record: ImageRecord, width: int, height: int, classes: list[str]) -> str:
    out = []
    for b in record.boxes:
        cx, cy = (b.x1 + b.x2) / 2 / width, (b.y1 + b.y2) / 2 / height
        out.append(f"{classes.index(b.label)} {cx:.6f} {cy:.6f} {b.width / width:.6f} {b.height / height:.6f}")
    return "\n".join(out) + ("\n" if out else "")
