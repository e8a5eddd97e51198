"""Face-crop geometry shared by training and inference: if the two differ by a pixel of
margin, the classifier is tested on pictures it never saw. Both call :func:`crop_face`."""

from __future__ import annotations

import cv2
import numpy as np

#: Fraction of the face's longer side added on each side; keeps the chin and the mask's
#: edges (where "below the nose" and "on the chin" show) inside the crop.
DEFAULT_MARGIN = 0.15
DEFAULT_SIZE = 128
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def square_box(box, margin: float = DEFAULT_MARGIN) -> tuple[int, int, int]:
    """Centre x, centre y and side of the square crop around ``box`` (x1, y1, x2, y2)."""
    x1, y1, x2, y2 = [float(v) for v in box[:4]]
    side = max(x2 - x1, y2 - y1) * (1 + 2 * margin)
    return round((x1 + x2) / 2), round((y1 + y2) / 2), max(2, round(side))


def crop_face(image: np.ndarray, box, size: int = DEFAULT_SIZE, margin: float = DEFAULT_MARGIN) -> np.ndarray:
    """A ``size`` x ``size`` BGR crop, square around the box; outside the image is edge-replicated."""
    cx, cy, side = square_box(box, margin)
    x0, y0 = cx - side // 2, cy - side // 2
    h, w = image.shape[:2]
    pad = max(0, -x0, -y0, x0 + side - w, y0 + side - h)
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0 = x0 + pad, y0 + pad
    crop = image[y0 : y0 + side, x0 : x0 + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interp)


def to_tensor(crops_bgr: list[np.ndarray] | np.ndarray) -> np.ndarray:
    """NCHW float32 RGB, ImageNet-normalised: what the classifier's first layer expects."""
    batch = np.asarray(crops_bgr, dtype=np.float32)[..., ::-1] / 255.0
    batch = (batch - np.asarray(MEAN, np.float32)) / np.asarray(STD, np.float32)
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


def longest_sides(boxes: np.ndarray) -> np.ndarray:
    """The longer of width and height of each (N,4) x1y1x2y2 box."""
    return np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N,4) and (M,4) x1y1x2y2 boxes."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)
