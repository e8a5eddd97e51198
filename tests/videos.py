"""Short test videos made from real data set images (nothing binary is committed)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def make_video(
    images: list[Path], out: Path, frames_each: int = 3, size=(640, 480), fps: float = 10.0, fourcc: str = "mp4v"
) -> Path:
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    assert writer.isOpened(), f"cannot write {out}"
    for path in images:
        frame = cv2.imread(str(path))
        h, w = frame.shape[:2]
        scale = min(size[0] / w, size[1] / h)
        canvas = np.zeros((size[1], size[0], 3), np.uint8)
        resized = cv2.resize(frame, (int(w * scale), int(h * scale)))
        canvas[: resized.shape[0], : resized.shape[1]] = resized
        for _ in range(frames_each):
            writer.write(canvas)
    writer.release()
    return out
