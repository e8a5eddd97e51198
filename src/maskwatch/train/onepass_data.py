"""Training data for the one-pass detector: whole scene photos with their face boxes, made
into CCTV-like training patches, and the stride-4 targets the network learns.

- **Scenes.** Every box-labelled source (VOC, YOLO, COCO) of the config's ``data.train``.
  A crop folder (one folder per class) is a source of close-up faces: the teacher's box, when
  it finds exactly one sure face, is the face's box and the folder its label (the
  ``mask_incorrect`` close-ups of MaskedFace-Net are most of that class's faces). Images are
  decoded once and kept in memory at most ``cache_side`` px on their longest side.
- **Landmarks.** The data sets have none, so the CenterFace teacher's five points on each
  annotated face (matched by IoU) are the targets: the landmark head keeps working after
  fine-tuning. The same pass measures each source's **box style** (how its annotators' boxes
  sit around CenterFace's): :func:`box_style`.
- **Patches.** A random face is scaled to a random size, ``face_px`` on a log scale (so faces
  of 8-40 px are common, as on CCTV), and a ``patch`` square is cut around it (``whole_faces``:
  a large face stays whole inside; ``closeups``: some patches are one face filling the frame,
  cut by its edges, as in a tight face crop; ``paste``: a face cut out of another photo is
  pasted on some patches, :func:`paste_face`); flips, colour, blur, noise and JPEG artefacts
  follow.
- **Synthetic masks in real scenes.** With probability ``synth``, an unmasked face with
  landmarks gets a mask drawn on it (``data synth``'s renderer): worn correctly, or below the
  nose or on the chin (``mask_incorrect``), so the rare class comes with real boxes in real
  scenes.
- **Sampling.** Each source gets the same share of patches (times its ``weight``), and
  images with ``mask_incorrect`` faces are drawn ``incorrect_boost`` times as often.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..errors import BadInputError, ConfigError
from ..labels import LABELS, MASK_INCORRECT, WITH_MASK, WITHOUT_MASK
from ..models.preprocess import longest_sides
from ..progress import track

if TYPE_CHECKING:
    from .config import DetectorConfig

#: landmark order: left eye, right eye, nose, left mouth corner, right mouth corner; a
#: horizontal flip swaps left and right
FLIP_POINTS = [1, 0, 2, 4, 3]
MAX_FACES = 96


@dataclass
class Scene:
    """One photo in memory and its faces, in the (resized) photo's pixels."""

    image: np.ndarray  # BGR uint8
    boxes: np.ndarray  # (K, 4) float32 x1 y1 x2 y2
    labels: np.ndarray  # (K,) int64 index into LABELS
    landmarks: np.ndarray  # (K, 5, 2) float32 x, y (teacher's); NaN where none matched
    source: int
    name: str = ""


@dataclass
class SceneSet:
    scenes: list[Scene] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    #: per source: median (dx1, dy1, dx2, dy2) of annotated boxes relative to CenterFace's, in
    #: face heights/widths, and how many faces were matched
    box_style: dict = field(default_factory=dict)


def _match(gt: np.ndarray, found: np.ndarray, min_iou: float = 0.4) -> np.ndarray:
    """For each annotated box, the index of its CenterFace box (greedy by IoU), or -1."""
    from ..models.preprocess import iou_matrix

    out = np.full(len(gt), -1, np.int64)
    if not len(gt) or not len(found):
        return out
    iou = iou_matrix(gt, found)
    for _ in range(min(len(gt), len(found))):
        i, j = np.unravel_index(np.argmax(iou), iou.shape)
        if iou[i, j] < min_iou:
            break
        out[i] = j
        iou[i, :] = -1
        iou[:, j] = -1
    return out


def load_scenes(sources, cache_side: int = 800, progress: bool | None = None, teacher=None, warn=print) -> SceneSet:
    """Every box-labelled image of ``sources`` (:class:`~maskwatch.train.config.SourceConfig`).

    A file that cannot be read is named in one line and skipped (a crop where the teacher
    finds no single sure face is counted in ``skipped``); a source with no faces is a
    ConfigError.
    """
    from ..data.make_crops import fit_box_correction
    from ..formats import load_dataset
    from ..images import read_image
    from ..models.face_detector import CenterFace, DetectorProfile
    from .prepare import source_mapping

    # photos are at most cache_side px: the teacher sees them at their own size
    teacher = teacher or CenterFace(DetectorProfile("teacher", cache_side, 640, threshold=0.2))
    out = SceneSet()
    for n, src in enumerate(sources):
        ds = load_dataset(src.path, split=src.split, mapping=source_mapping(src))
        crops = ds.is_crops()
        images = [im for im in ds.images if im.boxes or (crops and im.crop_label)]
        if not images:
            raise ConfigError(f"{src.path}{f' ({src.split})' if src.split else ''}: no labelled face boxes")
        if src.max_faces:
            images = images[: src.max_faces]
        out.sources.append(f"{src.path}{f':{src.split}' if src.split else ''}")
        pairs = []  # (CenterFace box, annotated box)
        for record in track(images, f"reading {ds.name}", len(images), progress):
            try:
                image = read_image(record.path)
            except BadInputError as exc:
                warn(f"{exc}; skipped")
                out.skipped.append(str(record.path))
                continue
            h, w = image.shape[:2]
            scale = min(1.0, cache_side / max(h, w))
            if scale < 1:
                image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
            h, w = image.shape[:2]
            found = teacher(image)
            if crops:
                scene = _crop_scene(image, found, LABELS.index(record.crop_label), n, record.stem)
                if scene is None:
                    out.skipped.append(f"{record.path}: no single sure face")
                else:
                    out.scenes.append(scene)
                continue
            boxes = np.array([b.as_list() for b in record.boxes], np.float32) * scale
            boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
            boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
            keep = (boxes[:, 2] - boxes[:, 0] >= 2) & (boxes[:, 3] - boxes[:, 1] >= 2)
            labels = np.array([LABELS.index(b.label) for b in record.boxes], np.int64)[keep]
            boxes = boxes[keep]
            match = _match(boxes, found.boxes)
            marks = np.full((len(boxes), 5, 2), np.nan, np.float32)
            marks[match >= 0] = found.landmarks[match[match >= 0]]
            pairs += [(found.boxes[j].tolist(), boxes[i].tolist()) for i, j in enumerate(match) if j >= 0]
            out.scenes.append(Scene(image, boxes, labels, marks, n, record.stem))
        if crops:  # the teacher's boxes: CenterFace's style by construction
            continue
        # the two-stage pipeline's box correction, measured per source
        med = fit_box_correction(pairs)
        out.box_style[out.sources[-1]] = {"median_offset_vs_centerface": med, "matched_faces": len(pairs)}
    return out


def _crop_scene(image: np.ndarray, found, label: int, source: int, name: str, sure: float = 0.5) -> Scene | None:
    """A close-up crop as a one-face scene, or None when the teacher is not sure of exactly one
    face (a second sure face would be an unlabelled face; none, a crop it cannot place)."""
    if (found.scores >= sure).sum() != 1:
        return None
    k = int(found.scores.argmax())
    return Scene(
        image, found.boxes[k : k + 1].astype(np.float32), np.array([label]), found.landmarks[k : k + 1], source, name
    )


def sampling_weights(scenes: SceneSet, source_weights: list[float], incorrect_boost: float = 3.0) -> np.ndarray:
    """Per-image probabilities: every source the same share (times its weight), images with
    a ``mask_incorrect`` face ``incorrect_boost`` times more likely within their source."""
    incorrect = LABELS.index(MASK_INCORRECT)
    per_image = np.array([incorrect_boost if (s.labels == incorrect).any() else 1.0 for s in scenes.scenes])
    source = np.array([s.source for s in scenes.scenes])
    weights = np.zeros(len(scenes.scenes))
    for n, w in enumerate(source_weights):
        mine = source == n
        if mine.any():
            weights[mine] = w * per_image[mine] / per_image[mine].sum()
    return weights / weights.sum()


def _photometric():
    import albumentations as A

    return A.Compose(
        [
            A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.4, hue=0.04, p=0.6),
            A.ToGray(p=0.05),
            A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.MotionBlur(blur_limit=(3, 7))], p=0.25),
            A.GaussNoise(std_range=(0.02, 0.06), p=0.2),
            A.ImageCompression(quality_range=(30, 90), p=0.35),
        ]
    )


def _synth_masks(scene: Scene, rng: np.random.Generator, prob: float, on_chin: float) -> tuple[np.ndarray, np.ndarray]:
    """The scene's image and labels with masks drawn on some unmasked faces: 35% worn
    right, the others ``mask_incorrect``, a share ``on_chin`` of them on the chin."""
    from ..data.synth import STYLES, draw_mask

    image, labels = scene.image, scene.labels
    unmasked = LABELS.index(WITHOUT_MASK)
    for i in np.nonzero(labels == unmasked)[0]:
        box, marks = scene.boxes[i], scene.landmarks[i]
        if np.isnan(marks).any() or min(box[2] - box[0], box[3] - box[1]) < 16 or rng.random() >= prob:
            continue
        placement = "correct" if rng.random() < 0.35 else ("below_nose" if rng.random() < 1 - on_chin else "on_chin")
        if image is scene.image:
            image, labels = image.copy(), labels.copy()
        image = draw_mask(image, marks, box, STYLES[int(rng.integers(len(STYLES)))], placement, rng)
        labels[i] = LABELS.index(WITH_MASK if placement == "correct" else MASK_INCORRECT)
    return image, labels


def cut_to(boxes: np.ndarray, rect) -> tuple[np.ndarray, np.ndarray]:
    """``boxes`` (N,4 x1y1x2y2) cut to ``rect`` (x1, y1, x2, y2), and the share of each box's
    area left inside it: which faces a patch, or a pasted rectangle, still shows."""
    cut = boxes.copy()
    cut[:, [0, 2]] = cut[:, [0, 2]].clip(rect[0], rect[2])
    cut[:, [1, 3]] = cut[:, [1, 3]].clip(rect[1], rect[3])
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    seen = (cut[:, 2] - cut[:, 0]) * (cut[:, 3] - cut[:, 1])
    return cut, seen / np.maximum(area, 1e-6)


def make_patch(
    scene: Scene,
    rng: np.random.Generator,
    patch: int = 320,
    face_px: tuple[float, float] = (8, 160),
    synth: float = 0.3,
    flip: float = 0.5,
    photometric=None,
    whole_faces: bool = False,
    closeups: float = 0.0,
    on_chin: float = 0.5,
    donor: Scene | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One training patch: (BGR patch x patch image, boxes, labels, landmarks), boxes and
    landmarks in patch pixels, faces mostly outside the patch dropped.

    ``closeups``: the share of patches that are one face filling the frame, 0.7-1.3 x the
    patch, cut by its edges and boxed to them: a tight face crop (a user's cropped photo, a
    face in front of the camera). Whole faces alone never show a face cut by the frame, and
    a detector trained on them scores such faces at 0.2-0.3. A close-up gets no synthetic
    mask: the crop may cut the chin a mask was drawn on and keep its mask_incorrect label
    (0.4.0, drawing them, labelled 75% of chandrikadeb7's bare tight crops right; 0.4.1 89%).

    ``donor``: a scene one of whose faces is cut out and pasted on the patch
    (:func:`paste_face`); not on a close-up."""
    boxes, marks = scene.boxes, scene.landmarks
    # (no draw at closeups 0: the first stage's patches stay those that trained 0.3.0)
    closeup = bool(closeups and len(boxes) and rng.random() < closeups)
    draw_masks = synth and not closeup
    image, labels = _synth_masks(scene, rng, synth, on_chin) if draw_masks else (scene.image, scene.labels)
    h, w = image.shape[:2]
    if closeup:  # the largest face, filling the patch
        sides = longest_sides(boxes)
        k = int(np.argmax(sides))
        scale = min(rng.uniform(0.7, 1.3) * patch / max(sides[k], 1.0), 6.0)
        cx, cy = (boxes[k, 0] + boxes[k, 2]) / 2 * scale, (boxes[k, 1] + boxes[k, 3]) / 2 * scale
        x0 = cx - rng.uniform(0.4, 0.6) * patch
        y0 = cy - rng.uniform(0.4, 0.6) * patch
    elif len(boxes) and rng.random() < 0.85:  # a face of a random size, somewhere in the patch
        k = int(rng.integers(len(boxes)))
        side = max(boxes[k, 2] - boxes[k, 0], boxes[k, 3] - boxes[k, 1], 1.0)
        scale = math.exp(rng.uniform(math.log(face_px[0]), math.log(face_px[1]))) / side
        scale = min(scale, 4 * patch / max(h, w), 6.0)
        cx, cy = (boxes[k, 0] + boxes[k, 2]) / 2 * scale, (boxes[k, 1] + boxes[k, 3]) / 2 * scale
        # the face's centre anywhere in the middle 70% (whole_faces: a large face stays inside)
        edge = min(max(0.15, side * scale / 2 / patch), 0.5) if whole_faces else 0.15
        x0 = cx - rng.uniform(edge, 1 - edge) * patch
        y0 = cy - rng.uniform(edge, 1 - edge) * patch
    else:  # the whole photo, somewhat larger or smaller
        scale = patch / max(h, w) * rng.uniform(0.6, 1.6)
        x0 = rng.uniform(min(0, w * scale - patch), max(0, w * scale - patch))
        y0 = rng.uniform(min(0, h * scale - patch), max(0, h * scale - patch))
    matrix = np.array([[scale, 0, -x0], [0, scale, -y0]], np.float32)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    out = cv2.warpAffine(
        image, matrix, (patch, patch), flags=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=(114,) * 3
    )
    b = boxes * scale - np.array([x0, y0, x0, y0], np.float32)
    m = marks * scale - np.array([x0, y0], np.float32)
    clipped, seen = cut_to(b, (0, 0, patch, patch))
    keep = (seen >= 0.5) & (clipped[:, 2] - clipped[:, 0] >= 2) & (clipped[:, 3] - clipped[:, 1] >= 2)
    b, m, lab = clipped[keep], m[keep], labels[keep]
    if donor is not None and not closeup:
        out, b, lab, m = paste_face(out, b, lab, m, donor, rng, face_px)
    if rng.random() < flip:
        out = out[:, ::-1]
        b = np.stack([patch - b[:, 2], b[:, 1], patch - b[:, 0], b[:, 3]], 1)
        m = m[:, FLIP_POINTS]
        m[:, :, 0] = patch - m[:, :, 0]
    out = np.ascontiguousarray(out)
    if photometric is not None:
        out = photometric(image=out)["image"]
    return out, b.astype(np.float32), lab, m.astype(np.float32)


def paste_face(
    patch: np.ndarray, boxes: np.ndarray, labels: np.ndarray, marks: np.ndarray, donor: Scene, rng, face_px
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Crop-and-paste: one of ``donor``'s faces, cut out as a rectangle (half the time cut at
    the face's own edges, half with up to 0.4 of its size around it), scaled to a random size and
    pasted with hard edges where it hides no face of ``patch``. Its label, box (cut to the
    rectangle) and landmarks come along; no place in 8 tries: the patch as it was.

    Why: a face cut out of its photo keeps its mask class wherever it is shown, but a
    detector that only saw faces in their own photos called 81% of the bare face crops that
    ``data walkby`` pastes on an empty scene ``mask_incorrect`` (``scripts/closeup_labels.py
    --paste``), while it labelled the same crops right when each filled the picture."""
    big = np.nonzero(longest_sides(donor.boxes) >= 16)[0]
    if not len(big):
        return patch, boxes, labels, marks
    k = int(big[rng.integers(len(big))])
    x1, y1, x2, y2 = donor.boxes[k]
    bw, bh = x2 - x1, y2 - y1
    dh, dw = donor.image.shape[:2]
    # half cut at the face's own edges (a tight crop: brows to chin), half with a margin
    tight = rng.random() < 0.5
    m = (rng.uniform(-0.1, 0.05, 4) if tight else rng.uniform(0.0, 0.4, 4)) * np.array([bw, bh, bw, bh])
    rx1, ry1 = max(0, int(x1 - m[0])), max(0, int(y1 - m[1]))
    rx2, ry2 = min(dw, int(math.ceil(x2 + m[2]))), min(dh, int(math.ceil(y2 + m[3])))
    side = patch.shape[0]
    hi = min(face_px[1], 0.6 * side)
    lo = min(max(16.0, face_px[0]), hi)
    # at most 2.5x: a small face blown up is a blur no camera shows
    scale = min(math.exp(rng.uniform(math.log(lo), math.log(hi))) / max(bw, bh), 2.5)
    cw, ch = max(2, round((rx2 - rx1) * scale)), max(2, round((ry2 - ry1) * scale))
    if rx2 - rx1 < 2 or ry2 - ry1 < 2 or cw > side or ch > side:
        return patch, boxes, labels, marks

    for _ in range(8):  # a place that hides no face of the patch (a hidden mouth reads as a mask)
        px, py = int(rng.integers(0, side - cw + 1)), int(rng.integers(0, side - ch + 1))
        rect = np.array([px, py, px + cw, py + ch], np.float32)
        if not len(boxes) or cut_to(boxes, rect)[1].max() < 0.15:
            break
    else:
        return patch, boxes, labels, marks
    crop = cv2.resize(
        donor.image[ry1:ry2, rx1:rx2], (cw, ch), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    )
    patch = patch.copy()
    patch[py : py + ch, px : px + cw] = crop
    sx, sy = cw / (rx2 - rx1), ch / (ry2 - ry1)
    # the donor's faces in patch pixels (a second face the rectangle shows comes too)
    moved = (donor.boxes - np.array([rx1, ry1, rx1, ry1], np.float32)) * np.array([sx, sy, sx, sy], np.float32)
    moved += np.array([px, py, px, py], np.float32)
    cut, seen = cut_to(moved, rect)
    inside = seen >= 0.5
    cut = cut[inside]
    pts = (donor.landmarks[inside] - np.array([rx1, ry1], np.float32)) * np.array([sx, sy], np.float32)
    pts += np.array([px, py], np.float32)
    return (
        patch,
        np.concatenate([boxes, cut]).astype(np.float32),
        np.concatenate([labels, donor.labels[inside]]),
        np.concatenate([marks, pts]).astype(np.float32),
    )


def gaussian_radius(height: float, width: float, min_overlap: float = 0.7) -> float:
    """CenterNet's radius: how far a corner may move and the box keep ``min_overlap`` IoU."""
    a1, b1 = 1, height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1**2 - 4 * a1 * c1)) / 2
    a2, b2 = 4, 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + math.sqrt(b2**2 - 4 * a2 * c2)) / 2
    a3, b3 = 4 * min_overlap, -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def encode_targets(boxes, labels, marks, size: tuple[int, int], stride: int = 4, max_faces: int = MAX_FACES) -> dict:
    """The stride-``stride`` targets of one image of ``size`` (h, w) pixels, the inverse of
    :func:`~maskwatch.models.face_detector.decode_centers`: a Gaussian peak of 1 at each face's
    centre cell on the heatmap; at that cell the log box size / 4, the centre's offset within
    the cell minus one half, the landmarks relative to the box (y, x per point) and the label."""
    oh, ow = size[0] // stride, size[1] // stride
    heat = np.zeros((1, oh, ow), np.float32)
    t = {
        "index": np.zeros(max_faces, np.int64),
        "mask": np.zeros(max_faces, np.bool_),
        "size": np.zeros((max_faces, 2), np.float32),
        "offset": np.zeros((max_faces, 2), np.float32),
        "landmarks": np.zeros((max_faces, 10), np.float32),
        "lm_mask": np.zeros(max_faces, np.bool_),
        "label": np.zeros(max_faces, np.int64),
    }
    order = np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))[:max_faces]  # big first
    k = 0
    for i in order:
        x1, y1, x2, y2 = boxes[i]
        bw, bh = x2 - x1, y2 - y1
        cx, cy = (x1 + x2) / 2 / stride, (y1 + y2) / 2 / stride
        ix, iy = min(int(cx), ow - 1), min(int(cy), oh - 1)
        radius = max(0, int(gaussian_radius(bh / stride, bw / stride)))
        _draw_gaussian(heat[0], ix, iy, radius)
        cell = iy * ow + ix
        if t["mask"][:k].any() and cell in t["index"][:k][t["mask"][:k]]:
            continue  # two faces on one cell: the larger one keeps it
        t["index"][k], t["mask"][k], t["label"][k] = cell, True, labels[i]
        t["size"][k] = (math.log(max(bh, 1) / stride), math.log(max(bw, 1) / stride))
        t["offset"][k] = (cy - iy - 0.5, cx - ix - 0.5)
        if not np.isnan(marks[i]).any():
            rel = np.stack([(marks[i, :, 1] - y1) / max(bh, 1), (marks[i, :, 0] - x1) / max(bw, 1)], 1)
            t["landmarks"][k], t["lm_mask"][k] = rel.reshape(-1), True
        k += 1
    t["heat"] = heat
    return t


def _draw_gaussian(heat: np.ndarray, x: int, y: int, radius: int) -> None:
    d = 2 * radius + 1
    sigma = d / 6
    g = np.exp(-((np.arange(d) - radius) ** 2) / (2 * sigma**2))
    g = np.outer(g, g)
    h, w = heat.shape
    left, right = min(x, radius), min(w - x, radius + 1)
    top, bottom = min(y, radius), min(h - y, radius + 1)
    region = heat[y - top : y + bottom, x - left : x + right]
    np.maximum(region, g[radius - top : radius + bottom, radius - left : radius + right], out=region)


class PatchDataset:
    """A torch-style dataset of random training patches: item ``i`` draws scene
    ``indices[i]`` (the caller samples them) and returns (image tensor, targets). ``recipe``:
    the config's ``detector`` section, whose data knobs (patch, face sizes, synth, close-ups,
    paste...) say how a patch is drawn."""

    def __init__(self, scenes: SceneSet, recipe: DetectorConfig, seed: int):
        self.scenes, self.recipe, self.seed = scenes, recipe, seed
        self.photometric = _photometric()
        self.rng = np.random.default_rng(seed)

    def reseed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.scenes.scenes)

    def __getitem__(self, i: int):
        import torch

        # (no draw at paste 0: earlier recipes' patches stay the same)
        r = self.recipe
        donor = None
        if r.paste and self.rng.random() < r.paste:
            donor = self.scenes.scenes[int(self.rng.integers(len(self.scenes.scenes)))]
        image, boxes, labels, marks = make_patch(
            self.scenes.scenes[i],
            self.rng,
            r.patch,
            r.face_px,
            r.synth,
            photometric=self.photometric,
            whole_faces=r.whole_faces,
            closeups=r.closeups,
            on_chin=r.on_chin,
            donor=donor,
        )
        t = encode_targets(boxes, labels, marks, (r.patch, r.patch))
        x = torch.from_numpy(np.ascontiguousarray(image[:, :, ::-1].transpose(2, 0, 1))).float()
        return x, {k: torch.from_numpy(v) for k, v in t.items()}
