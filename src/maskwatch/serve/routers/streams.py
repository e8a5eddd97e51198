"""Live video: the browser's webcam over a WebSocket (/v1/ws), and the server's own camera as
MJPEG (/v1/stream.mjpg), which any browser shows with a plain ``<img>`` tag."""

from __future__ import annotations

import asyncio
import json
import time

import cv2
from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from ...detections import face_rows
from ...draw import annotate
from ...errors import HttpError, MaskwatchError
from ...pipelines.frames import FramePipeline
from ...pipelines.sources import FrameReader
from ..deps import AUTH, decode, infer, key_ok, label_counts, scope_key
from ..pool import Busy

router = APIRouter()


@router.websocket("/v1/ws")
async def live(ws: WebSocket):
    """Binary JPEG frames in, one JSON message of faces out per frame (send the next frame after
    the answer: the rate adapts to the server). Key: ?api_key= (browsers cannot set headers)."""
    state = ws.app.state
    # accepted first, then closed with a code the page can show (a refusal before the
    # handshake reaches a browser as a bare 1006)
    await ws.accept()
    if not key_ok(state.settings, scope_key(ws.scope)):
        state.metrics.record("ws", 4401, time.perf_counter())
        await ws.close(code=4401, reason="missing or wrong API key")
        return
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            if data is None:
                state.metrics.record("ws", 1003, time.perf_counter())
                await ws.close(code=1003, reason="send binary JPEG frames, not text")
                return
            started = time.perf_counter()
            try:
                image = decode(state, data, "frame")
                dets = await infer(state, image, None)
            except Busy as exc:
                await ws.send_text(json.dumps({"error": str(exc), "retry_after": exc.retry_after}))
                continue
            except MaskwatchError as exc:
                await ws.send_text(json.dumps({"error": str(exc)}))
                continue
            state.metrics.record("ws", 200, started)
            await ws.send_text(
                json.dumps(
                    {
                        "width": image.shape[1],
                        "height": image.shape[0],
                        "faces": face_rows(dets, "frame"),
                        "counts": label_counts(dets),
                        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                    }
                )
            )
    except WebSocketDisconnect:
        return


@router.get("/v1/stream.mjpg", dependencies=AUTH)
async def mjpeg(request: Request):
    """The server's camera (``maskwatch serve --source``), annotated, as MJPEG."""
    state = request.app.state
    if not state.settings.source:
        raise HttpError(404, "no server-side source: start with `maskwatch serve --source 0|rtsp://...`")
    pipeline = FramePipeline(state.detector, state.settings.min_score)
    return StreamingResponse(
        mjpeg_frames(pipeline, state.settings.source, state.pool),
        media_type="multipart/x-mixed-replace; boundary=frame",
    )


async def mjpeg_frames(pipeline: FramePipeline, source: str, pool):
    """Annotated JPEG parts of ``source``; a frame that finds the pool full is dropped (the
    API has priority)."""
    loop = asyncio.get_running_loop()
    reader = await loop.run_in_executor(None, FrameReader, source)
    frames = iter(reader)
    try:
        while True:
            frame = await loop.run_in_executor(None, next, frames, None)
            if frame is None:
                return
            try:
                result = await pool.run(pipeline.process, frame)
            except Busy:
                continue  # drop this frame: the API has priority
            ok, jpeg = cv2.imencode(".jpg", annotate(frame.image, result.detections), [cv2.IMWRITE_JPEG_QUALITY, 80])
            if ok:
                yield b"--frame\r\nContent-Type: image/jpeg\r\n\r\n" + jpeg.tobytes() + b"\r\n"
    finally:
        reader.close()
