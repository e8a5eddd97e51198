"""``data capture``: frames from a webcam or stream saved every N seconds (and on a key press
where a display exists), to collect your own photos for labelling."""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2

from ..pipelines.sources import FrameReader


def capture(
    source: str,
    out: Path,
    every: float = 2.0,
    max_images: int | None = None,
    duration: float | None = None,
    show: bool = False,
    prefix: str = "capture",
) -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    reader = FrameReader(source)
    display = show and bool(os.environ.get("DISPLAY"))
    saved: list[Path] = []
    last = -1e9
    started = time.monotonic()
    try:
        for frame in reader:
            now = time.monotonic()
            key = -1
            if display:
                cv2.imshow("maskwatch capture (space: save, q: quit)", frame.image)
                key = cv2.waitKey(1) & 0xFF
                if key in (ord("q"), 27):
                    break
            due = reader.live and now - last >= every
            due = due or (not reader.live and frame.t - last >= every)
            if due or key == ord(" "):
                path = out / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{frame.index:06d}.jpg"
                if not cv2.imwrite(str(path), frame.image):
                    raise OSError(f"{path}: cannot write (disk full or no permission?)")
                saved.append(path)
                last = now if reader.live else frame.t
            if (max_images and len(saved) >= max_images) or (duration and now - started >= duration):
                break
    finally:
        reader.close()
    return saved
