"""``data synth``: synthetic masks drawn on unmasked faces, placed from the face detector's
five landmarks (eyes, nose tip, mouth corners), worn correctly (``with_mask``) or badly
(below the nose or on the chin: ``mask_incorrect``).

Why: the public data has ~3% incorrectly worn masks, and public detectors miss black and
patterned masks because their training data is mostly blue surgical ones."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import BadInputError
from ..formats.dataset import Dataset
from ..images import read_image
from ..labels import MASK_INCORRECT, WITH_MASK
from ..models.preprocess import crop_face
from ..progress import track
from ..sheets import contact_sheet

STYLES = ("surgical_blue", "surgical_white", "black_cloth", "patterned_cloth", "n95")
PLACEMENTS = {"correct": WITH_MASK, "below_nose": MASK_INCORRECT, "on_chin": MASK_INCORRECT}


@dataclass
class SynthFace:
    image: np.ndarray
    box: np.ndarray
    style: str
    placement: str

    @property
    def label(self) -> str:
        return PLACEMENTS[self.placement]


def _texture(style: str, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """The mask's cloth as a BGR picture, before shading."""
    if style == "surgical_blue":
        base = np.array([215, 185, 120]) + rng.integers(-20, 20, 3)
    elif style == "surgical_white":
        base = np.array([238, 238, 235]) + rng.integers(-12, 8, 3)
    elif style == "black_cloth":
        base = np.array([28, 28, 30]) + rng.integers(0, 25, 1)
    elif style == "n95":
        base = np.array([225, 230, 232]) + rng.integers(-15, 10, 3)
    else:
        base = rng.integers(30, 220, 3)
    tex = np.empty((h, w, 3), np.float32)
    tex[:] = np.clip(base, 0, 255)
    tex += rng.normal(0, 6 if style != "black_cloth" else 4, (h, w, 1))  # weave
    if style == "patterned_cloth":
        other = rng.integers(30, 230, 3).astype(np.float32)
        step = max(4, w // int(rng.integers(5, 10)))
        yy, xx = np.mgrid[0:h, 0:w]
        if rng.random() < 0.5:
            sel = ((xx // step + yy // step) % 2) == 0  # checks
        else:
            sel = ((xx - step // 2) % step) ** 2 + ((yy - step // 2) % step) ** 2 < (step / 3.5) ** 2  # dots
        tex[sel] = other
    return tex


def _mask_polygon(lm: np.ndarray, box: np.ndarray, placement: str, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """The mask outline in image coordinates, in a frame aligned with the eye line."""
    le, re, nose, ml, mr = lm
    eyes = (le + re) / 2
    mouth = (ml + mr) / 2
    angle = math.atan2(re[1] - le[1], re[0] - le[0])
    u = np.array([math.cos(angle), math.sin(angle)])
    v = np.array([-u[1], u[0]])

    def proj(p):
        d = np.asarray(p, np.float64) - eyes
        return float(d @ u), float(d @ v)

    _, vn = proj(nose)
    um, vm = proj(mouth)
    un, _ = proj(nose)
    corners = [proj((box[0], box[3])), proj((box[2], box[3])), proj((box[0], box[1])), proj((box[2], box[1]))]
    v_chin = max(c[1] for c in corners[:2]) * 0.97
    u_left = min(c[0] for c in corners) * 0.92
    u_right = max(c[0] for c in corners) * 0.92
    v_chin = max(v_chin, vm + 0.5 * (vm - vn) + 1)
    jitter = rng.uniform(-0.06, 0.06)
    if placement == "correct":
        top = vn * (0.35 + jitter)
    elif placement == "below_nose":
        top = vn + (vm - vn) * (0.35 + jitter)
    else:
        top = vm + (v_chin - vm) * (0.45 + jitter)
    bottom = v_chin + (v_chin - top) * (0.08 if placement != "on_chin" else 0.15)
    cx = (un + um) / 2
    pts = []
    for t in np.linspace(0, math.pi, 24):  # top edge: a shallow arch over the nose
        x = cx - (cx - u_left) * math.cos(t) if math.cos(t) > 0 else cx + (u_right - cx) * -math.cos(t)
        pts.append((x, top + 0.12 * (bottom - top) * abs(math.cos(t)) ** 2))
    mid = top + 0.45 * (bottom - top)
    for t in np.linspace(0, math.pi, 24):  # bottom edge: rounded under the chin
        c = math.cos(t)
        x = cx + (u_right - cx) * c if c > 0 else cx + (cx - u_left) * c
        pts.append((x, mid + (bottom - mid) * math.sin(t)))
    poly = np.array([eyes + px * u + py * v for px, py in pts], np.float32)
    return poly, {"u": u, "v": v, "eyes": eyes, "top": top, "bottom": bottom, "cx": cx}


def draw_mask(
    image: np.ndarray, landmarks: np.ndarray, box: np.ndarray, style: str, placement: str, rng: np.random.Generator
) -> np.ndarray:
    out = image.copy()
    poly, frame = _mask_polygon(np.asarray(landmarks, np.float64), np.asarray(box, np.float64), placement, rng)
    h, w = image.shape[:2]
    alpha = np.zeros((h, w), np.uint8)
    cv2.fillPoly(alpha, [np.round(poly).astype(np.int32)], 255)
    x, y, bw, bh = cv2.boundingRect(np.round(poly).astype(np.int32))
    x, y = max(0, x), max(0, y)
    bw, bh = min(w - x, bw), min(h - y, bh)
    if bw < 3 or bh < 3:
        return out
    tex = _texture(style, bh, bw, rng)
    # pleats / seams, drawn along the eye line
    yy = np.arange(bh)[:, None] + y
    xx = np.arange(bw)[None, :] + x
    along_v = (xx - frame["eyes"][0]) * frame["v"][0] + (yy - frame["eyes"][1]) * frame["v"][1]
    across_u = (xx - frame["eyes"][0]) * frame["u"][0] + (yy - frame["eyes"][1]) * frame["u"][1]
    span = max(frame["bottom"] - frame["top"], 1)
    rel = (along_v - frame["top"]) / span
    if style.startswith("surgical"):
        for k in (0.3, 0.5, 0.7):
            tex[np.abs(rel - k) < 0.025] *= 0.82
    if style == "n95":
        tex[np.abs(across_u - frame["cx"]) < max(1, span * 0.015)] *= 0.8
    # shading: lighter in the middle, darker towards the edges (a curved surface)
    half = max(abs(across_u - frame["cx"]).max(), 1)
    shade = 1.05 - 0.35 * (np.abs(across_u - frame["cx"]) / half) ** 2 - 0.1 * np.clip(rel, 0, 1)
    tex *= shade[..., None]
    # keep a little of the face's lighting under the mask
    gray = cv2.cvtColor(image[y : y + bh, x : x + bw], cv2.COLOR_BGR2GRAY).astype(np.float32) / 255
    tex *= 0.75 + 0.5 * gray[..., None]
    a = (
        cv2.GaussianBlur(alpha, (0, 0), max(0.6, span * 0.01))[y : y + bh, x : x + bw].astype(np.float32)[..., None]
        / 255
    )
    region = out[y : y + bh, x : x + bw].astype(np.float32)
    out[y : y + bh, x : x + bw] = np.clip(region * (1 - a) + np.clip(tex, 0, 255) * a, 0, 255).astype(np.uint8)
    return out


def synthesize(
    ds: Dataset,
    detector,
    out: Path,
    per_face: int = 1,
    seed: int = 0,
    size: int = 128,
    margin: float = 0.15,
    max_faces: int | None = None,
    min_face: int = 40,
    progress: bool | None = None,
    prefix: str = "synth",
) -> dict:
    """Masks on the unmasked faces of ``ds``, written as classifier crops under ``out/<label>``,
    with ``contact_sheet.png`` showing examples. Half the faces get a correct mask."""
    rng = np.random.default_rng(seed)
    out = Path(out)
    counts = {WITH_MASK: 0, MASK_INCORRECT: 0}
    tiles, captions = [], []
    done = 0
    records = [
        r for r in ds.images if r.crop_label == "without_mask" or any(b.label == "without_mask" for b in r.boxes)
    ]
    for record in track(records, "synthesising masks", len(records), progress):
        if max_faces and done >= max_faces:
            break
        try:
            image = read_image(record.path)
        except BadInputError:
            continue
        found = detector(image)
        wanted = [b.as_list() for b in record.boxes if b.label == "without_mask"] if record.boxes else None
        for j in range(len(found.scores)):
            box, lm = found.boxes[j], found.landmarks[j]
            if min(box[2] - box[0], box[3] - box[1]) < min_face:
                continue
            if wanted is not None:
                from ..models.preprocess import iou_matrix

                if iou_matrix(box[None], np.array(wanted)).max() < 0.4:
                    continue  # only faces annotated as unmasked
            for _ in range(per_face):
                placement = "correct" if rng.random() < 0.5 else ("below_nose" if rng.random() < 0.5 else "on_chin")
                style = STYLES[int(rng.integers(len(STYLES)))]
                masked = draw_mask(image, lm, box, style, placement, rng)
                crop = crop_face(masked, box, size, margin)
                label = PLACEMENTS[placement]
                folder = out / label
                folder.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(
                    str(folder / f"{prefix}_{record.stem}_{j}_{counts[label]}.jpg"),
                    crop,
                    [cv2.IMWRITE_JPEG_QUALITY, 95],
                )
                counts[label] += 1
                if len(tiles) < 48:
                    tiles.append(crop)
                    captions.append(f"{style[:9]}/{placement}")
            done += 1
            if max_faces and done >= max_faces:
                break
    out.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out / "contact_sheet.png"), contact_sheet(tiles, captions, cols=8))
    return {"faces": done, "written": counts, "contact_sheet": str(out / "contact_sheet.png")}
