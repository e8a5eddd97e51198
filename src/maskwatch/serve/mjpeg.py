"""The server-side camera as an MJPEG stream (``multipart/x-mixed-replace``), as in the
classic Flask demos: any browser shows it with a plain ``<img>`` tag."""

from __future__ import annotations

import asyncio

import cv2

from ..draw import annotate
from ..video.sources import FrameReader
from .pool import Busy


async def mjpeg_frames(detector, source: str, pool):
    reader = FrameReader(source)
    frames = iter(reader)
    loop = asyncio.get_running_loop()
    try:
        while True:
            frame = await loop.run_in_executor(None, next, frames, None)
            if frame is None:
                return
            try:
                faces = await pool.run(detector.detect, frame.image)
            except Busy:
                continue  # drop this frame: the API has priority
            ok, jpeg = cv2.imencode(".jpg", annotate(frame.image, faces), [cv2.IMWRITE_JPEG_QUALITY, 80])
            if ok:
                yield b"--frame\r\nContent-Type: image/jpeg\r\n\r\n" + jpeg.tobytes() + b"\r\n"
    finally:
        reader.close()
