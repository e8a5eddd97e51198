"""``data prelabel``: the current model's boxes as PascalVOC files that LabelImg or CVAT open
for correction, so labelling starts from the model instead of from nothing."""

from __future__ import annotations

from pathlib import Path

from ..errors import BadInputError
from ..images import IMAGE_EXTENSIONS, read_image
from ..progress import track
from .dataset import Box, ImageRecord, Problem
from .voc import write_voc_record


def prelabel_folder(
    detector,
    folder: Path,
    out: Path | None = None,
    min_score: float = 0.4,
    overwrite: bool = False,
    progress: bool | None = None,
) -> tuple[int, int, list[Problem]]:
    """Write ``<stem>.xml`` beside each image (or under ``out``). Existing XML is kept
    unless ``overwrite``: a human's corrections are never replaced by the model's guesses."""
    folder = Path(folder)
    images = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    written = faces = 0
    problems: list[Problem] = []
    for path in track(images, "prelabelling", len(images), progress):
        target = (Path(out) / path.relative_to(folder)).with_suffix(".xml") if out else path.with_suffix(".xml")
        if target.exists() and not overwrite:
            problems.append(Problem(str(target), "exists", "kept (pass --overwrite to replace)"))
            continue
        try:
            image = read_image(path)
        except BadInputError as exc:
            problems.append(Problem(str(path), "unreadable_image", exc.reason))
            continue
        found = detector.detect(image, min_score)
        record = ImageRecord(path, [Box(*f.box, f.label) for f in found])
        write_voc_record(record, target, image.shape[1], image.shape[0])
        written += 1
        faces += len(found)
    return written, faces, problems
