"""/v1/detect (one image) and /v1/detect/video (a short uploaded video)."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Annotated

import cv2
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ...detections import face_rows
from ...draw import annotate
from ...errors import HttpError, SourceError
from ...pipelines.frames import FramePipeline
from ...pipelines.sources import FrameReader
from ..deps import AUTH, decode, infer, label_counts, min_score_for

router = APIRouter()

VIDEO_MAGIC = {b"ftyp": "mp4", b"\x1aE\xdf\xa3": "webm/mkv", b"RIFF": "avi"}


# --- response models (they make the OpenAPI docs at /docs useful; filled from face_rows) ----
class FaceOut(BaseModel):
    image: str = Field(description="the uploaded file's name (or 'upload')", examples=["door.jpg"])
    x1: float = Field(examples=[79.0])
    y1: float = Field(examples=[100.2])
    x2: float = Field(examples=[109.3])
    y2: float = Field(examples=[139.7])
    label: str = Field(description="with_mask, without_mask or mask_incorrect", examples=["without_mask"])
    score: float = Field(ge=0, le=1, examples=[0.81])
    landmarks: list[list[float]] | None = Field(default=None, description="eyes, nose tip, mouth corners")


class DetectOut(BaseModel):
    width: int
    height: int
    model_version: str
    faces: list[FaceOut]
    counts: dict[str, int]
    latency_ms: float


class VideoFrameOut(BaseModel):
    frame: int
    t: float
    faces: list[FaceOut]


class VideoOut(BaseModel):
    width: int
    height: int
    fps: float
    frames_analysed: int
    stride: int
    model_version: str
    counts: dict[str, int] = Field(description="faces per label over all analysed frames (not unique people)")
    frames: list[VideoFrameOut]
    truncated: str | None = Field(
        None, description="why the analysis stopped before the end of the video (a server limit), if it did"
    )


def _upload_body(what: str) -> dict:
    """OpenAPI: the body is multipart field ``file`` or the raw bytes (any content type)."""
    binary = {"type": "string", "format": "binary"}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": {"file": {**binary, "description": what}}}
                },
                "application/octet-stream": {"schema": binary},
            },
        }
    }


async def body_bytes(request: Request, what: str = "an image") -> tuple[bytes, str]:
    """The upload: multipart field ``file``, else the raw body whatever its content type
    (curl's ``--data-binary`` sends ``application/x-www-form-urlencoded``)."""
    ctype = request.headers.get("content-type", "").lower()
    if ctype.startswith("multipart/form-data"):
        try:
            form = await request.form(max_files=1, max_fields=10)
        except Exception as exc:  # starlette's MultiPartException, a bad boundary, a broken part
            if exc.__class__.__name__ == "BodyTooLarge":
                raise
            detail = getattr(exc, "detail", None) or getattr(exc, "message", None) or str(exc) or "unreadable"
            raise HttpError(400, f"malformed multipart body: {detail}") from None
        try:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                fields = ", ".join(repr(k) for k in form) or "none"
                raise HttpError(400, f"send {what} as multipart file field 'file' (got fields: {fields})")
            return await upload.read(), upload.filename or "upload"
        finally:
            await form.close()
    data = await request.body()
    if not data:
        raise HttpError(400, f"send {what} as multipart field 'file' or as the raw request body")
    return data, "upload"


@router.post(
    "/v1/detect",
    response_model=DetectOut,
    dependencies=AUTH,
    openapi_extra=_upload_body("the image (JPEG, PNG, BMP, WebP, TIFF)"),
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "JSON, or the annotated JPEG with ?annotated=1"},
        400: {},
        401: {},
        413: {},
        415: {},
        503: {},
    },
)
async def detect(
    request: Request,
    annotated: Annotated[bool, Query(description="return the annotated JPEG instead of JSON")] = False,
    min_score: Annotated[float | None, Query(ge=0, le=1)] = None,
):
    """Detect faces and mask wearing in one image (multipart upload or raw bytes)."""
    started = time.perf_counter()
    state = request.app.state
    data, name = await body_bytes(request)
    image = decode(state, data, name)
    dets = await infer(state, image, min_score)
    if annotated:
        ok, jpeg = cv2.imencode(".jpg", annotate(image, dets), [cv2.IMWRITE_JPEG_QUALITY, 90])
        return Response(jpeg.tobytes(), media_type="image/jpeg")
    return {
        "width": image.shape[1],
        "height": image.shape[0],
        "model_version": state.detector.model_version,
        "faces": face_rows(dets, name),
        "counts": label_counts(dets),
        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
    }


@router.post(
    "/v1/detect/video",
    response_model=VideoOut,
    dependencies=AUTH,
    openapi_extra=_upload_body("a short video (MP4, WebM, AVI)"),
    responses={400: {}, 401: {}, 413: {}, 415: {}, 503: {}},
)
async def detect_video(
    request: Request,
    stride: Annotated[int, Query(ge=1, le=100, description="analyse every Nth frame")] = 5,
    min_score: Annotated[float | None, Query(ge=0, le=1)] = None,
):
    """Detections for every Nth frame of a short video; the page draws them over the playing video.

    Bounded by the server's limits (``max_video_seconds``, ``max_video_frames`` analysed,
    ``max_video_pixels`` per frame), run in its own pool (``video_workers``) so that images
    keep being answered, and stopped as soon as the client goes away."""
    state = request.app.state
    data, name = await body_bytes(request, "a video")
    kind = next((k for magic, k in VIDEO_MAGIC.items() if magic in data[:12]), None)
    if kind is None:
        raise HttpError(415, f"{name}: not a supported video (MP4, WebM/MKV or AVI)")
    settings = state.settings
    pipeline = FramePipeline(state.detector, min_score_for(settings, min_score), stride=stride)
    limits = VideoLimits(settings.max_video_seconds, settings.max_video_frames, settings.max_video_pixels)
    cancel = threading.Event()
    metrics = state.metrics
    work = asyncio.ensure_future(
        state.video_pool.run(
            analyse_video, pipeline, data, limits, name, state.detector.model_version, cancel, metrics.video_frames.inc
        )
    )
    metrics.video_pending.inc()
    try:
        while True:
            done, _ = await asyncio.wait({work}, timeout=0.25)
            if done:
                return work.result()
            if await request.is_disconnected():
                cancel.set()  # the worker stops at its next frame
                metrics.video_cancelled.inc()
                with contextlib.suppress(Exception):
                    await work
                return Response(status_code=499)  # nginx's "client closed request"; nobody reads it
    finally:
        cancel.set()
        metrics.video_pending.dec()


@dataclass
class VideoLimits:
    max_seconds: float
    max_frames: int
    max_pixels: int


class Cancelled(Exception):
    pass


def analyse_video(
    pipeline: FramePipeline,
    data: bytes,
    limits: VideoLimits,
    name: str,
    model_version: str,
    cancel: threading.Event | None = None,
    on_frame=None,
) -> dict:
    """Runs in the video pool: OpenCV needs a file, so the upload lives in a temporary one.
    Stops at ``limits`` (saying which in ``truncated``) or when ``cancel`` is set."""
    cancel = cancel or threading.Event()
    with tempfile.NamedTemporaryFile(suffix=".video") as tmp:
        tmp.write(data)
        tmp.flush()
        try:
            reader = FrameReader(tmp.name, kind="video", queue_size=2)
        except SourceError:
            raise HttpError(400, f"{name}: cannot open video (corrupt or unsupported codec)") from None
        frames, counts, size, truncated = [], Counter(), (0, 0), None
        try:
            _check_pixels(name, reader.width, reader.height, limits.max_pixels)  # before any frame is decoded
            for result in pipeline.run(reader):
                if cancel.is_set():
                    raise Cancelled()
                frame = result.frame
                h, w = frame.image.shape[:2]
                _check_pixels(name, w, h, limits.max_pixels)  # a header that lied about the size
                if frame.index / reader.fps > limits.max_seconds:
                    truncated = f"stopped at {limits.max_seconds:g} s of video (max_video_seconds)"
                    break
                size = (w, h)
                if result.analysed:
                    if on_frame is not None:
                        on_frame()
                    dets = result.detections
                    counts.update(dets.labels)
                    frames.append({"frame": frame.index, "t": round(frame.t, 3), "faces": face_rows(dets, name)})
                    if len(frames) >= limits.max_frames:
                        truncated = f"stopped after {limits.max_frames} analysed frames (max_video_frames)"
                        break
        except SourceError:
            pass  # a video that breaks off: what was read so far is the answer
        finally:
            reader.close()
    if cancel.is_set():
        raise Cancelled()
    if not frames:
        raise HttpError(400, f"{name}: no frame could be decoded (corrupt or empty video)")
    return {
        "width": size[0],
        "height": size[1],
        "fps": reader.fps,
        "frames_analysed": len(frames),
        "stride": pipeline.stride,
        "model_version": model_version,
        "counts": dict(counts),
        "frames": frames,
        "truncated": truncated,
    }


def _check_pixels(name: str, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise HttpError(
            413, f"{name}: frames of {width}x{height} exceed the limit of {max_pixels:,} pixels (max_video_pixels)"
        )
