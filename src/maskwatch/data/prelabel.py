"""``data prelabel``: the current model's boxes as PascalVOC files that LabelImg or CVAT open
for correction, so labelling starts from the model instead of from nothing."""

from __future__ import annotations

from pathlib import Path

from ..defaults import PRELABEL_MIN_SCORE
from ..errors import BadInputError
from ..formats.dataset import Box, ImageRecord, Problem
from ..formats.voc import write_voc_record
from ..images import IMAGE_EXTENSIONS, read_image
from ..progress import track


def prelabel_folder(
    detector,
    folder: Path,
    out: Path | None = None,
    min_score: float = PRELABEL_MIN_SCORE,
    overwrite: bool = False,
    progress: bool | None = None,
) -> tuple[int, int, list[Problem]]:
    """Write ``<stem>.xml`` beside each image (or under ``out``). Existing XML is kept
    unless ``overwrite``: a human's corrections are never replaced by the model's guesses.

    Args:
        detector: a :class:`~maskwatch.Detector`.
        folder: the images (searched recursively).
        out: write the XML under this folder (same relative paths); None: beside the images.
        min_score: faces scoring lower are left out (a human adds a missed face more easily
            than they delete many wrong ones).
        overwrite: replace existing XML.
        progress: show a progress bar (None: when on a terminal).

    Returns:
        (XML files written, faces written, problems: unreadable images and kept files).
    """
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
        found = detector.detect(image).above(min_score)
        record = ImageRecord(path, [Box(*box, label) for box, label in zip(found.xyxy.tolist(), found.labels)])
        write_voc_record(record, target, image.shape[1], image.shape[0])
        written += 1
        faces += len(found)
    return written, faces, problems
