"""``data check``: everything that makes a data set lie to training or evaluation."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from ..errors import BadInputError
from ..formats.dataset import Dataset, Problem, finite
from ..images import read_image
from ..progress import track
from .split import content_hash


@dataclass
class CheckResult:
    images: int = 0
    faces: int = 0
    problems: list[Problem] = field(default_factory=list)

    def by_kind(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for p in self.problems:
            counts[p.kind] += 1
        return dict(counts)

    def lines(self) -> list[str]:
        head = f"{self.images} images, {self.faces} faces, {len(self.problems)} problem(s)"
        kinds = ", ".join(f"{k}: {v}" for k, v in sorted(self.by_kind().items()))
        return [head + (f" ({kinds})" if kinds else "")] + [str(p) for p in self.problems]

    def to_dict(self) -> dict:
        return {
            "images": self.images,
            "faces": self.faces,
            "by_kind": self.by_kind(),
            "problems": [p.__dict__ for p in self.problems],
        }


def check_dataset(ds: Dataset, others: list[Dataset] | None = None, progress: bool | None = None) -> CheckResult:
    """Missing, unreadable or truncated images; empty or out-of-image boxes; unknown classes
    (from the reader); exact duplicates inside ``ds`` and shared with ``others``."""
    result = CheckResult(images=len(ds.images), problems=list(ds.problems))
    hashes: dict[str, list[str]] = defaultdict(list)
    for record in track(ds.images, f"checking {ds.name}", len(ds.images), progress):
        result.faces += len(record.boxes) or (1 if record.crop_label else 0)
        try:
            image = read_image(record.path)
        except BadInputError as exc:
            kind = "missing_image" if exc.reason == "no such file" else "unreadable_image"
            result.problems.append(Problem(str(record.path), kind, exc.reason))
            continue
        h, w = image.shape[:2]
        if record.width and record.height and (record.width, record.height) != (w, h):
            result.problems.append(
                Problem(
                    str(record.annotation or record.path),
                    "size_mismatch",
                    f"annotation says {record.width}x{record.height}, image is {w}x{h}",
                )
            )
        for i, b in enumerate(record.boxes):
            where = f"{record.annotation or record.path} (box {i + 1}, {b.label})"
            if not finite(*b.as_list()):
                result.problems.append(Problem(where, "bad_annotation", f"non-finite coordinates {b.as_list()}"))
            elif b.x2 <= b.x1 or b.y2 <= b.y1:
                result.problems.append(Problem(where, "empty_box", f"zero or negative size {b.as_list()}"))
            elif b.x1 < -1 or b.y1 < -1 or b.x2 > w + 1 or b.y2 > h + 1:
                result.problems.append(
                    Problem(where, "box_outside_image", f"{[round(v) for v in b.as_list()]} outside {w}x{h}")
                )
        hashes[content_hash(record.path)].append(str(record.path))
    for paths in hashes.values():
        if len(paths) > 1:
            result.problems.append(Problem(paths[0], "duplicate_image", "identical to " + ", ".join(paths[1:])))
    for other in others or []:
        for record in other.images:
            try:
                digest = content_hash(record.path)
            except OSError:
                continue
            if digest in hashes:
                result.problems.append(
                    Problem(hashes[digest][0], "duplicate_across_splits", f"identical to {record.path} in {other.name}")
                )
    return result
