"""The in-memory data set every reader produces and every writer, checker and trainer reads."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..labels import LABELS


@dataclass
class Box:
    x1: float
    y1: float
    x2: float
    y2: float
    label: str
    difficult: bool = False

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    def as_list(self) -> list[float]:
        return [self.x1, self.y1, self.x2, self.y2]


@dataclass
class ImageRecord:
    """One image and its faces. Class-folder crops have ``crop_label`` and no boxes: the
    whole picture is the face (or contains it: see ``data crop --find-face``)."""

    path: Path
    boxes: list[Box] = field(default_factory=list)
    width: int | None = None
    height: int | None = None
    annotation: Path | None = None
    crop_label: str | None = None

    @property
    def stem(self) -> str:
        return self.path.stem

    def labels(self) -> list[str]:
        return [self.crop_label] if self.crop_label else [b.label for b in self.boxes]


@dataclass
class Problem:
    """Something wrong with one file; readers collect these instead of stopping."""

    path: str
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: [{self.kind}] {self.message}"


@dataclass
class Dataset:
    name: str
    root: Path
    format: str
    images: list[ImageRecord] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)

    def class_counts(self) -> dict[str, int]:
        counts = Counter(label for im in self.images for label in im.labels())
        return {label: counts.get(label, 0) for label in LABELS}

    def subset(self, stems: set[str], name: str | None = None) -> Dataset:
        return Dataset(
            name or self.name,
            self.root,
            self.format,
            [im for im in self.images if im.stem in stems],
            list(self.problems),
        )

    def is_crops(self) -> bool:
        return self.format == "crops"


def outside_reason(path: Path, root: Path) -> str | None:
    """Why ``path`` may not be read as part of the data set at ``root``, or None when it may.

    A path may be read when it resolves (symlinks followed) inside ``root``: a hostile data
    set cannot make maskwatch read, copy or print ``/etc/passwd`` through a ``../`` file name,
    an absolute file name or a symlink. Readers skip such files and report them as
    ``outside_dataset`` problems unless the user passes ``--allow-outside``.

    Args:
        path: a file the data set names.
        root: the data set's folder.

    Returns:
        A reason to show the user, or None.
    """
    try:
        real_root = Path(root).resolve()
        real = Path(path).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        return f"cannot resolve ({exc.__class__.__name__}: {exc})"
    if real == real_root or real.is_relative_to(real_root):
        return None
    how = "is a symlink to" if Path(path).is_symlink() else "resolves to"
    return f"{how} {real}, outside the data set folder {real_root} (pass --allow-outside to read it)"


def finite(*values) -> bool:
    """True when every value is a finite number (no NaN, no inf)."""
    import math

    try:
        return all(math.isfinite(v) for v in values)
    except TypeError:
        return False
