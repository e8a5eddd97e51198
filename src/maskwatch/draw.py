"""Annotated frames: green with_mask, red without_mask, orange mask_incorrect."""

from __future__ import annotations

import cv2
import numpy as np

from .detections import Detections
from .labels import LABELS, MASK_INCORRECT, WITH_MASK, WITHOUT_MASK

COLORS_BGR = {WITH_MASK: (60, 180, 75), WITHOUT_MASK: (40, 40, 230), MASK_INCORRECT: (0, 150, 255)}


def annotate(image: np.ndarray, dets: Detections, copy: bool = True) -> np.ndarray:
    """``image`` with a box and a "label score" tag (and "#track") per face of ``dets``."""
    out = image.copy() if copy else image
    thick = max(1, round(min(out.shape[:2]) / 400))
    font = max(0.35, min(out.shape[:2]) / 1200)
    height, width = out.shape[:2]
    for box, k, score, tid in zip(
        dets.xyxy.tolist(), dets.class_id.tolist(), dets.confidence.tolist(), dets.tracker_id.tolist()
    ):
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        label = LABELS[k]
        color = COLORS_BGR.get(label, (200, 200, 200))
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thick + 1)
        text = f"{label} {score:.2f}"
        if tid >= 0:
            text = f"#{tid} {text}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font, thick)
        ty = y1 - 4 if y1 - th - base - 4 > 0 else y2 + th + 4
        ty = max(th + base, min(ty, height - base - 1))  # below a face at the bottom edge: inside
        tx = max(0, min(x1, width - tw - 3))  # a face at the right edge: its tag moves left, whole
        cv2.rectangle(out, (tx, ty - th - base), (tx + tw + 2, ty + base), color, -1)
        cv2.putText(out, text, (tx + 1, ty), cv2.FONT_HERSHEY_SIMPLEX, font, (255, 255, 255), thick, cv2.LINE_AA)
    return out
