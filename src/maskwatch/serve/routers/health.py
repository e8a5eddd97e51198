"""Health, readiness, Prometheus metrics, and what the web page needs to know (/v1/info)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ...labels import LABELS
from ..deps import AUTH

router = APIRouter()


@router.get("/healthz", tags=["health"])
async def healthz():
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", tags=["health"])
async def readyz(request: Request):
    """The model is loaded and answers."""
    detector = request.app.state.detector
    ok = detector is not None
    return JSONResponse(
        {"status": "ready" if ok else "loading", "model_version": getattr(detector, "model_version", None)},
        200 if ok else 503,
    )


@router.get("/metrics", dependencies=AUTH, tags=["health"])
async def prometheus(request: Request):
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/info", dependencies=AUTH)
async def info(request: Request):
    """What the page needs to know: model, limits, whether a server camera exists."""
    state = request.app.state
    settings = state.settings
    return {
        "model_version": state.detector.model_version,
        "labels": list(LABELS),
        "source": bool(settings.source),
        "max_image_bytes": settings.max_image_bytes,
        "max_video_bytes": settings.max_video_bytes,
        "max_video_seconds": settings.max_video_seconds,
        "max_video_frames": settings.max_video_frames,
        "auth": settings.api_key is not None,
        "watch": state.events_link is not None,
        # the events database's error while it cannot be reached (the Watch tab shows it)
        "watch_error": state.events_link.error if state.events_link is not None else None,
    }
