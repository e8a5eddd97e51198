"""A walk-by test video from labelled faces: people cross the picture one after another
(two at a time in two lanes), so the true number of people per label is known. It checks
a whole ``watch`` set-up (tracking, voting, counting, events) without a camera, and it is
what the counting tests run on.

With a detector, only faces it labels correctly on a still frame are used: the video then
measures tracking and counting, not the classifier's errors."""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from ..defaults import OUTPUT_MIN_SCORE
from ..errors import BadInputError, ConfigError, SourceError
from ..formats.dataset import Dataset
from ..images import read_image
from ..labels import LABELS


@dataclass
class Walker:
    label: str
    source: str
    lane: int
    enter_frame: int
    exit_frame: int


def face_sprite(image: np.ndarray, box, face_px: int) -> np.ndarray | None:
    """A person of the walk-by: the face (``box``; None: the whole image is the face) with a
    margin, scaled to ``face_px`` face height. None: an empty crop."""
    h, w = image.shape[:2]
    if box is None:  # a crop: the picture is the face
        x1, y1, x2, y2 = 0, 0, w, h
        face_h = h * 0.7
    else:
        bw, bh = box.width, box.height
        x1, y1 = max(0, int(box.x1 - 0.35 * bw)), max(0, int(box.y1 - 0.35 * bh))
        x2, y2 = min(w, int(box.x2 + 0.35 * bw)), min(h, int(box.y2 + 0.35 * bh))
        face_h = bh
    crop = image[y1:y2, x1:x2]
    if crop.size == 0:
        return None
    scale = face_px / max(face_h, 1)
    return cv2.resize(
        crop,
        (max(8, int(crop.shape[1] * scale)), max(8, int(crop.shape[0] * scale))),
        interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC,
    )


def _background(size: tuple[int, int]) -> np.ndarray:
    w, h = size
    ramp = np.linspace(70, 150, h, dtype=np.float32)[:, None]
    bg = np.repeat(ramp, w, 1)
    bg[int(h * 0.8) :] *= 0.7  # a floor
    return np.dstack([bg * 0.95, bg, bg * 1.05]).clip(0, 255).astype(np.uint8)


def still_frame(sprite: np.ndarray, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """One person of the walk-by standing in the middle of its empty scene: what ``--verify``
    shows the detector, and a face in a frame rather than one filling the picture."""
    frame = _background(size)
    _paste(frame, sprite, (size[0] - sprite.shape[1]) // 2, (size[1] - sprite.shape[0]) // 2)
    return frame


def _paste(canvas: np.ndarray, sprite: np.ndarray, x: int, y: int) -> None:
    H, W = canvas.shape[:2]
    h, w = sprite.shape[:2]
    cx1, cy1, cx2, cy2 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if cx2 <= cx1 or cy2 <= cy1:
        return
    canvas[cy1:cy2, cx1:cx2] = sprite[cy1 - y : cy2 - y, cx1 - x : cx2 - x]


def _candidates(datasets: list[Dataset], min_face: int, rng: random.Random) -> dict[str, list]:
    out: dict[str, list] = {label: [] for label in LABELS}
    for ds in datasets:
        for record in ds.images:
            if record.crop_label:
                out[record.crop_label].append((record, None))
            else:
                for box in record.boxes:
                    if min(box.width, box.height) >= min_face and not box.difficult:
                        out[box.label].append((record, box))
    for items in out.values():
        rng.shuffle(items)
    return out


def make_walkby(
    datasets: list[Dataset],
    out: Path,
    people: dict[str, int],
    size: tuple[int, int] = (640, 480),
    fps: float = 10.0,
    walk_seconds: float = 3.0,
    spacing_seconds: float = 1.8,
    face_px: int = 110,
    min_face: int = 48,
    seed: int = 0,
    detector=None,
) -> dict:
    """Write the video and ``<out>.json`` (the truth).

    Args:
        datasets: where faces come from (boxes or class-folder crops).
        out: the video to write (.mp4).
        people: how many people of each label walk by.
        size: (width, height) of the video.
        fps: frames a second.
        walk_seconds: how long one person takes to cross.
        spacing_seconds: time between two people entering.
        face_px: face height in the video.
        min_face: smallest source face (px) used.
        seed: which faces, in which order.
        detector: a :class:`~maskwatch.Detector`; where given, only faces it finds alone and
            labels right (score >= 0.6) on a still frame are used.

    Returns:
        The truth: ``video``, ``fps``, ``frames``, ``people`` per label and the ``walkers``.

    Raises:
        ConfigError: a label that is not one of :data:`~maskwatch.labels.LABELS`.
        SourceError: too few usable faces, or the video cannot be written.
    """
    rng = random.Random(seed)
    pool = _candidates(datasets, min_face, rng)
    bg = _background(size)
    chosen: list[tuple[str, str, np.ndarray]] = []
    for label, n in people.items():
        if label not in LABELS:
            raise ConfigError(f"label: unknown label {label!r}; one of {', '.join(LABELS)}")
        got = 0
        for record, box in pool[label]:
            if got >= n:
                break
            try:
                sprite = face_sprite(read_image(record.path), box, face_px)
            except BadInputError:
                continue
            if sprite is None or sprite.shape[0] > size[1] * 0.45 or sprite.shape[1] > size[0] * 0.5:
                continue
            if detector is not None:  # keep faces the models get right on a still frame
                still = still_frame(sprite, size)
                # the faces a person would be shown (detect's default min_score before it
                # returned every face)
                faces = detector.detect(still).above(OUTPUT_MIN_SCORE)
                if len(faces) != 1 or faces.labels[0] != label or float(faces.confidence[0]) < 0.6:
                    continue
            chosen.append((label, str(record.path), sprite))
            got += 1
        if got < n:
            raise SourceError(f"only {got} usable {label} faces of {min_face}+ px found; asked for {n}")
    rng.shuffle(chosen)
    walk = int(round(walk_seconds * fps))
    spacing = int(round(spacing_seconds * fps))
    lanes = (int(size[1] * 0.08), int(size[1] * 0.5))
    walkers = [Walker(label, src, i % 2, i * spacing, i * spacing + walk) for i, (label, src, _) in enumerate(chosen)]
    total = (walkers[-1].exit_frame + fps) if walkers else fps
    try:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SourceError(f"{Path(out).parent}: cannot create the folder ({exc.strerror or exc})") from None
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise SourceError(f"{out}: cannot write video")
    try:
        for f in range(int(total)):
            frame = bg.copy()
            for walker, (_, _, sprite) in zip(walkers, chosen):
                if walker.enter_frame <= f < walker.exit_frame:
                    progress = (f - walker.enter_frame) / max(1, walk - 1)
                    direction = 1 if walker.lane == 0 else -1  # the two lanes walk opposite ways
                    start, end = -sprite.shape[1] // 2, size[0] - sprite.shape[1] // 2
                    x = start + progress * (end - start) if direction > 0 else end - progress * (end - start)
                    _paste(frame, sprite, int(x), lanes[walker.lane])
            writer.write(frame)
    finally:
        writer.release()
    truth = {
        "video": str(out),
        "fps": fps,
        "frames": int(total),
        "people": {label: sum(1 for w in walkers if w.label == label) for label in LABELS},
        "walkers": [asdict(w) for w in walkers],
    }
    Path(str(out) + ".json").write_text(json.dumps(truth, indent=1))
    return truth
