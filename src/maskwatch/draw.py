"""Annotated frames: green with_mask, red without_mask, orange mask_incorrect."""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from .labels import MASK_INCORRECT, WITH_MASK, WITHOUT_MASK

COLORS_BGR = {WITH_MASK: (60, 180, 75), WITHOUT_MASK: (40, 40, 230), MASK_INCORRECT: (0, 150, 255)}


def annotate(image: np.ndarray, faces: Iterable, copy: bool = True) -> np.ndarray:
    out = image.copy() if copy else image
    thick = max(1, round(min(out.shape[:2]) / 400))
    font = max(0.35, min(out.shape[:2]) / 1200)
    for face in faces:
        x1, y1, x2, y2 = (int(round(v)) for v in face.box)
        color = COLORS_BGR.get(face.label, (200, 200, 200))
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thick + 1)
        text = f"{face.label} {face.score:.2f}"
        if getattr(face, "track_id", None) is not None:
            text = f"#{face.track_id} {text}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font, thick)
        ty = y1 - 4 if y1 - th - base - 4 > 0 else y2 + th + 4
        cv2.rectangle(out, (x1, ty - th - base), (x1 + tw + 2, ty + base), color, -1)
        cv2.putText(out, text, (x1 + 1, ty), cv2.FONT_HERSHEY_SIMPLEX, font, (255, 255, 255), thick, cv2.LINE_AA)
    return out
