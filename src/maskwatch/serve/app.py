"""The HTTP API and web page. Inference runs in a bounded thread pool, never on the event loop."""

from __future__ import annotations

import base64
import binascii
import importlib.resources
import json
import secrets
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Annotated

import cv2
import numpy as np
from fastapi import Depends, FastAPI, File, Query, Request, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..draw import annotate
from ..errors import BadInputError, ImageTooLargeError
from ..images import decode_image
from ..labels import LABELS
from .limits import LimitBodySize
from .metrics import ServeMetrics
from .pool import Busy, InferencePool
from .settings import ServeSettings

VIDEO_MAGIC = {b"ftyp": "mp4", b"\x1aE\xdf\xa3": "webm/mkv", b"RIFF": "avi"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


# --- response models (they make the OpenAPI docs at /docs useful) -------------------------
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


class PredictIn(BaseModel):
    instances: list[dict] = Field(
        description='TF-Serving request: [{"b64": "..."}] or [{"image_bytes": {"b64": "..."}}]',
        examples=[[{"b64": "<base64 JPEG>"}]],
    )


def _faces_out(faces, name: str) -> list[dict]:
    return [{"image": name, **f.to_dict()} for f in faces]


def create_app(detector=None, settings: ServeSettings | None = None) -> FastAPI:
    settings = settings or ServeSettings()
    if detector is None:
        from ..models.detector import Detector

        detector = Detector()
    pool = InferencePool(settings.workers, settings.queue)
    metrics = ServeMetrics()
    app = FastAPI(
        title="maskwatch",
        version=__version__,
        description="Face-mask detection: which faces wear a mask correctly (`with_mask`), not at all "
        "(`without_mask`) or badly (`mask_incorrect`). Send an image, get boxes, labels and scores.",
    )
    app.state.detector, app.state.settings, app.state.pool, app.state.metrics = detector, settings, pool, metrics
    app.add_middleware(
        LimitBodySize,
        limit_for=lambda path: settings.max_video_bytes if path.endswith("/video") else settings.max_image_bytes,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["X-API-Key", "Authorization", "Content-Type"],
        )

    # --- errors: always JSON, always a clear message --------------------------------------
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return JSONResponse({"error": {"code": exc.status, "message": exc.message}}, exc.status, headers=exc.headers)

    @app.exception_handler(Busy)
    async def _busy(request: Request, exc: Busy):
        return JSONResponse(
            {"error": {"code": 503, "message": str(exc)}}, 503, headers={"Retry-After": str(exc.retry_after)}
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        return JSONResponse({"error": {"code": exc.status_code, "message": str(exc.detail)}}, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", []))
        return JSONResponse({"error": {"code": 422, "message": f"{where}: {first.get('msg', 'invalid request')}"}}, 422)

    # --- auth ------------------------------------------------------------------------------
    def _key_ok(given: str | None) -> bool:
        return settings.api_key is None or (given is not None and secrets.compare_digest(given, settings.api_key))

    def require_key(request: Request) -> None:
        given = request.headers.get("x-api-key")
        auth = request.headers.get("authorization", "")
        if given is None and auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if given is None:  # <img src> (MJPEG) and WebSockets cannot send headers
            given = request.query_params.get("api_key")
        if not _key_ok(given):
            raise ApiError(
                401,
                "missing or wrong API key (send X-API-Key or Authorization: Bearer)",
                {"WWW-Authenticate": "Bearer"},
            )

    auth = [Depends(require_key)]

    # --- helpers ---------------------------------------------------------------------------
    def decode(data: bytes, name: str) -> np.ndarray:
        try:
            return decode_image(data, name)
        except ImageTooLargeError as exc:
            raise ApiError(413, str(exc)) from None
        except BadInputError as exc:
            status = 415 if "not an image" in exc.reason else 400
            raise ApiError(status, str(exc)) from None

    def record(route: str, status: int, started: float) -> None:
        metrics.requests.labels(route, str(status)).inc()
        metrics.latency.labels(route).observe(time.perf_counter() - started)

    @app.middleware("http")
    async def count_requests(request: Request, call_next):
        """Every HTTP request, whatever its outcome, counted once by route name and status."""
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        record(getattr(route, "name", None) or "unmatched", response.status_code, started)
        return response

    async def infer(image: np.ndarray, min_score: float | None):
        """The one way requests reach the model: bounded, and every face counted by label."""
        metrics.in_flight.inc()
        try:
            faces = await pool.run(detector.detect, image, min_score)
        finally:
            metrics.in_flight.dec()
        for f in faces:
            metrics.faces.labels(f.label).inc()
        return faces

    async def body_bytes(request: Request, file: UploadFile | None) -> tuple[bytes, str]:
        if file is not None:
            return await file.read(), file.filename or "upload"
        data = await request.body()
        if not data:
            raise ApiError(400, "send an image as multipart field 'file' or as the raw request body")
        return data, "upload"

    # --- API ------------------------------------------------------------------------------
    @app.post(
        "/v1/detect",
        response_model=DetectOut,
        dependencies=auth,
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
        data, name = await body_bytes(request, file)
        image = decode(data, name)
        faces = await infer(image, min_score)
        if annotated:
            ok, jpeg = cv2.imencode(".jpg", annotate(image, faces), [cv2.IMWRITE_JPEG_QUALITY, 90])
            return Response(jpeg.tobytes(), media_type="image/jpeg")
        return {
            "width": image.shape[1],
            "height": image.shape[0],
            "model_version": detector.model_version,
            "faces": _faces_out(faces, name),
            "counts": dict(Counter(f.label for f in faces)),
            "latency_ms": round((time.perf_counter() - started) * 1000, 1),
        }

    @app.post("/v1/detect/video", response_model=VideoOut, dependencies=auth)
    async def detect_video(
        file: Annotated[UploadFile, File(description="a short video (MP4, WebM, AVI)")],
        stride: Annotated[int, Query(ge=1, le=100, description="analyse every Nth frame")] = 5,
        min_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    ):
        """Detections for every Nth frame of a short video; the page draws them over the playing video."""
        data = await file.read()
        kind = next((k for magic, k in VIDEO_MAGIC.items() if magic in data[:12]), None)
        if kind is None:
            raise ApiError(415, f"{file.filename}: not a supported video (MP4, WebM/MKV or AVI)")
        result = await pool.run(
            _analyse_video, detector, data, stride, min_score, settings.max_video_seconds, file.filename or "upload"
        )
        if "error" in result:
            raise ApiError(400, f"{file.filename}: {result['error']}")
        return result

    @app.get("/v1/models/{name}", dependencies=auth, tags=["TF Serving compatible"])
    async def model_status(name: str):
        """TF-Serving model status."""
        _model(name)
        return {
            "model_version_status": [
                {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
            ]
        }

    @app.get("/v1/models/{name}/metadata", dependencies=auth, tags=["TF Serving compatible"])
    async def model_metadata(name: str):
        """TF-Serving model metadata: one signature taking encoded images, giving boxes like the
        TensorFlow Object Detection API (normalised ymin, xmin, ymax, xmax)."""
        _model(name)
        tensor = {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [{"size": "-1"}, {"size": "-1"}]}}
        return {
            "model_spec": {"name": name, "signature_name": "", "version": "1"},
            "metadata": {
                "signature_def": {
                    "signature_def": {
                        "serving_default": {
                            "inputs": {
                                "image_bytes": {
                                    "dtype": "DT_STRING",
                                    "tensor_shape": {"dim": [{"size": "-1"}]},
                                    "name": "encoded_image_string_tensor",
                                }
                            },
                            "outputs": {
                                k: {**tensor, "name": k}
                                for k in ("detection_boxes", "detection_scores", "detection_classes", "num_detections")
                            },
                            "method_name": "tensorflow/serving/predict",
                        }
                    }
                }
            },
            "labels": list(LABELS),
            "maskwatch_model_version": detector.model_version,
        }

    @app.post("/v1/models/{name_verb}", dependencies=auth, tags=["TF Serving compatible"])
    async def predict(name_verb: str, body: PredictIn):
        """TF-Serving ``:predict``: ``{"instances": [{"b64": "..."}]}`` -> one prediction per image with
        ``detection_boxes`` (normalised [ymin, xmin, ymax, xmax]), ``detection_scores``,
        ``detection_classes`` (1 with_mask, 2 without_mask, 3 mask_incorrect), ``detection_labels``."""
        name, _, verb = name_verb.partition(":")
        _model(name)
        if verb != "predict":
            raise ApiError(404, f"unknown verb {verb!r}; use {name}:predict")
        predictions = []
        for i, inst in enumerate(body.instances):
            b64 = inst.get("b64") or (inst.get("image_bytes") or {}).get("b64")
            if not isinstance(b64, str):
                raise ApiError(400, f'instances[{i}]: expected {{"b64": ...}} or {{"image_bytes": {{"b64": ...}}}}')
            try:
                data = base64.b64decode(b64, validate=True)
            except (binascii.Error, ValueError):
                raise ApiError(400, f"instances[{i}]: not valid base64") from None
            if len(data) > settings.max_image_bytes:
                raise ApiError(413, f"instances[{i}]: image exceeds {settings.max_image_bytes:,} bytes")
            image = decode(data, f"instances[{i}]")
            faces = await infer(image, None)
            h, w = image.shape[:2]
            predictions.append(
                {
                    "detection_boxes": [[f.box[1] / h, f.box[0] / w, f.box[3] / h, f.box[2] / w] for f in faces],
                    "detection_scores": [f.score for f in faces],
                    "detection_classes": [LABELS.index(f.label) + 1 for f in faces],
                    "detection_labels": [f.label for f in faces],
                    "num_detections": len(faces),
                }
            )
        return {"predictions": predictions}

    def _model(name: str) -> None:
        if name != settings.model_name:
            raise ApiError(404, f"Servable not found for request: Latest({name})")

    # --- live webcam over WebSocket -------------------------------------------------------
    @app.websocket("/v1/ws")
    async def live(ws: WebSocket, api_key: str | None = None):
        """Binary JPEG frames in, one JSON message of faces out per frame (send the next frame after
        the answer: the rate adapts to the server). Key: ?api_key= (browsers cannot set headers)."""
        if not _key_ok(api_key or ws.headers.get("x-api-key")):
            await ws.close(code=4401, reason="missing or wrong API key")
            return
        await ws.accept()
        try:
            while True:
                data = await ws.receive_bytes()
                started = time.perf_counter()
                try:
                    image = decode(data, "frame")
                    faces = await infer(image, None)
                except ApiError as exc:
                    await ws.send_text(json.dumps({"error": exc.message}))
                    continue
                except Busy as exc:
                    await ws.send_text(json.dumps({"error": str(exc), "retry_after": exc.retry_after}))
                    continue
                record("ws", 200, started)
                await ws.send_text(
                    json.dumps(
                        {
                            "width": image.shape[1],
                            "height": image.shape[0],
                            "faces": _faces_out(faces, "frame"),
                            "counts": dict(Counter(f.label for f in faces)),
                            "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                        }
                    )
                )
        except WebSocketDisconnect:
            return

    # --- server-side camera as MJPEG ------------------------------------------------------
    @app.get("/v1/stream.mjpg", dependencies=auth)
    async def mjpeg():
        """The server's camera (``maskwatch serve --source``), annotated, as MJPEG."""
        if not settings.source:
            raise ApiError(404, "no server-side source: start with `maskwatch serve --source 0|rtsp://...`")
        from .mjpeg import mjpeg_frames

        return StreamingResponse(
            mjpeg_frames(detector, settings.source, pool), media_type="multipart/x-mixed-replace; boundary=frame"
        )

    # --- health and metrics ---------------------------------------------------------------
    @app.get("/healthz", tags=["health"])
    async def healthz():
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz():
        """The model is loaded and answers."""
        ok = detector is not None and detector.classifier.session is not None
        return JSONResponse(
            {"status": "ready" if ok else "loading", "model_version": detector.model_version}, 200 if ok else 503
        )

    @app.get("/metrics", dependencies=auth, tags=["health"])
    async def prometheus():
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/info", dependencies=auth)
    async def info():
        """What the page needs to know: model, limits, whether a server camera exists."""
        return {
            "model_version": detector.model_version,
            "labels": list(LABELS),
            "source": bool(settings.source),
            "max_image_bytes": settings.max_image_bytes,
            "max_video_bytes": settings.max_video_bytes,
            "auth": settings.api_key is not None,
            "watch": app.state.events is not None,
        }

    # --- watch: counts and events from the database `maskwatch watch` writes ---------------
    store = _events_store(settings)
    app.state.events = store
    if store is not None:
        from .events_api import events_router

        app.include_router(events_router(store, auth, ApiError))

    # --- the web page (same process, no CDN, no build step) --------------------------------
    static = Path(str(importlib.resources.files("maskwatch.serve") / "static"))

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index():
        return HTMLResponse((static / "index.html").read_text(encoding="utf-8"))

    app.mount("/static", StaticFiles(directory=static), name="static")
    return app


def _events_store(settings: ServeSettings):
    """The watch database when one is configured or the default SQLite file exists."""
    from ..events.db import DEFAULT_DATA_DIR
    from ..events.store import EventStore

    if settings.events_db:
        return EventStore(settings.events_db)
    if (DEFAULT_DATA_DIR / "maskwatch.db").exists():
        return EventStore(data_dir=DEFAULT_DATA_DIR)
    return None


def _analyse_video(detector, data: bytes, stride: int, min_score, max_seconds: float, name: str) -> dict:
    """Runs in the pool: OpenCV needs a file, so the upload lives in a temporary one."""
    with tempfile.NamedTemporaryFile(suffix=".video") as tmp:
        tmp.write(data)
        tmp.flush()
        cap = cv2.VideoCapture(tmp.name)
        if not cap.isOpened():
            return {"error": "cannot open video (corrupt or unsupported codec)"}
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        fps = fps if 0 < fps < 1000 else 25.0
        frames, counts, index, size = [], Counter(), 0, (0, 0)
        try:
            while index / fps <= max_seconds:
                ok, image = cap.read()
                if not ok:
                    break
                size = (image.shape[1], image.shape[0])
                if index % stride == 0:
                    faces = detector.detect(image, min_score)
                    counts.update(f.label for f in faces)
                    frames.append({"frame": index, "t": round(index / fps, 3), "faces": _faces_out(faces, name)})
                index += 1
        finally:
            cap.release()
        if not frames:
            return {"error": "no frame could be decoded (corrupt or empty video)"}
        return {
            "width": size[0],
            "height": size[1],
            "fps": fps,
            "frames_analysed": len(frames),
            "stride": stride,
            "model_version": detector.model_version,
            "counts": dict(counts),
            "frames": frames,
        }
