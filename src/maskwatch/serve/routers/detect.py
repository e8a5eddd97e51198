"""/v1/detect (one image) and /v1/detect/video (a short uploaded video)."""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from typing import Annotated

import cv2
from fastapi import APIRouter, File, Query, Request, UploadFile
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


async def body_bytes(request: Request, file: UploadFile | None) -> tuple[bytes, str]:
    if file is not None:
        return await file.read(), file.filename or "upload"
    data = await request.body()
    if not data:
        raise HttpError(400, "send an image as multipart field 'file' or as the raw request body")
    return data, "upload"


@router.post(
    "/v1/detect",
    response_model=DetectOut,
    dependencies=AUTH,
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
    file: Annotated[UploadFile | None, File(description="the image (JPEG, PNG, BMP, WebP, TIFF)")] = None,
    annotated: Annotated[bool, Query(description="return the annotated JPEG instead of JSON")] = False,
    min_score: Annotated[float | None, Query(ge=0, le=1)] = None,
):
    """Detect faces and mask wearing in one image (multipart upload or raw bytes)."""
    started = time.perf_counter()
    state = request.app.state
    data, name = await body_bytes(request, file)
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


@router.post("/v1/detect/video", response_model=VideoOut, dependencies=AUTH)
async def detect_video(
    request: Request,
    file: Annotated[UploadFile, File(description="a short video (MP4, WebM, AVI)")],
    stride: Annotated[int, Query(ge=1, le=100, description="analyse every Nth frame")] = 5,
    min_score: Annotated[float | None, Query(ge=0, le=1)] = None,
):
    """Detections for every Nth frame of a short video; the page draws them over the playing video."""
    state = request.app.state
    data = await file.read()
    kind = next((k for magic, k in VIDEO_MAGIC.items() if magic in data[:12]), None)
    if kind is None:
        raise HttpError(415, f"{file.filename}: not a supported video (MP4, WebM/MKV or AVI)")
    settings = state.settings
    pipeline = FramePipeline(state.detector, min_score_for(settings, min_score), stride=stride)
    name = file.filename or "upload"
    return await state.pool.run(
        analyse_video, pipeline, data, settings.max_video_seconds, name, state.detector.model_version
    )


def analyse_video(pipeline: FramePipeline, data: bytes, max_seconds: float, name: str, model_version: str) -> dict:
    """Runs in the pool: OpenCV needs a file, so the upload lives in a temporary one."""
    with tempfile.NamedTemporaryFile(suffix=".video") as tmp:
        tmp.write(data)
        tmp.flush()
        try:
            reader = FrameReader(tmp.name, kind="video")
        except SourceError:
            raise HttpError(400, f"{name}: cannot open video (corrupt or unsupported codec)") from None
        frames, counts, size = [], Counter(), (0, 0)
        try:
            for result in pipeline.run(reader):
                frame = result.frame
                if frame.index / reader.fps > max_seconds:
                    break
                size = (frame.image.shape[1], frame.image.shape[0])
                if result.analysed:
                    dets = result.detections
                    counts.update(dets.labels)
                    frames.append({"frame": frame.index, "t": round(frame.t, 3), "faces": face_rows(dets, name)})
        except SourceError:
            pass  # a video that breaks off: what was read so far is the answer
        finally:
            reader.close()
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
    }
