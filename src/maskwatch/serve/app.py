"""The HTTP API and web page. Inference runs in a bounded thread pool, never on the event loop.

:func:`create_app` wires the parts: middleware, the one error handler, the routers in
``serve/routers/`` and the static page. What the routers share lives on ``app.state``
(see ``serve/deps.py``)."""

from __future__ import annotations

import importlib.resources
import time
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..errors import MaskwatchError
from ..events.store import EventStore
from ..settings import ServeSettings
from .limits import LimitBodySize
from .metrics import ServeMetrics
from .pool import InferencePool
from .routers import detect, health, streams, tfserving

STATIC = Path(str(importlib.resources.files("maskwatch.serve") / "static"))


def create_app(detector=None, settings: ServeSettings | None = None) -> FastAPI:
    """The FastAPI app on ``detector`` (default: the one ``settings`` describe) with
    ``settings`` (default: resolved now from the environment and defaults)."""
    settings = settings if settings is not None else ServeSettings.resolve()
    if detector is None:
        detector = settings.detector()
    metrics = ServeMetrics()
    app = FastAPI(
        title="maskwatch",
        version=__version__,
        description="Face-mask detection: which faces wear a mask correctly (`with_mask`), not at all "
        "(`without_mask`) or badly (`mask_incorrect`). Send an image, get boxes, labels and scores.",
    )
    app.state.detector, app.state.settings, app.state.metrics = detector, settings, metrics
    app.state.pool = InferencePool(settings.workers, settings.queue)
    # the database `maskwatch watch` writes, found as watch finds it: when there is one,
    # the page gets a Watch tab with live counts
    app.state.events = EventStore(settings.database_url) if settings.database_exists else None

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

    @app.middleware("http")
    async def count_requests(request: Request, call_next):
        """Every HTTP request, whatever its outcome, counted once by route name and status."""
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        metrics.record(getattr(route, "name", None) or "unmatched", response.status_code, started)
        return response

    _error_handlers(app)
    for router in (detect.router, tfserving.router, streams.router, health.router):
        app.include_router(router)
    if app.state.events is not None:
        from .routers import watch

        app.include_router(watch.router)

    # --- the web page (same process, no CDN, no build step) --------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index():
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _error_handlers(app: FastAPI) -> None:
    """Errors are always JSON with a clear message: ``{"error": {"code", "message"}}``."""

    @app.exception_handler(MaskwatchError)
    async def _maskwatch_error(request: Request, exc: MaskwatchError):
        status = exc.http_status
        return JSONResponse(
            {"error": {"code": status, "message": str(exc)}}, status, headers=getattr(exc, "headers", None) or {}
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        return JSONResponse({"error": {"code": exc.status_code, "message": str(exc.detail)}}, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", []))
        return JSONResponse({"error": {"code": 422, "message": f"{where}: {first.get('msg', 'invalid request')}"}}, 422)
