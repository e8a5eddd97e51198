"""The HTTP API and web page. Inference runs in a bounded thread pool, never on the event loop.

:func:`create_app` wires the parts: middleware, the one error handler, the routers in
``serve/routers/`` and the static page. What the routers share lives on ``app.state``
(see ``serve/deps.py``)."""

from __future__ import annotations

import functools
import importlib.resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..errors import MaskwatchError
from ..settings import ServeSettings
from .deps import EventsLink, key_ok
from .limits import CountRequests, Gate
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
        docs_url=None,  # served below from local assets, so /docs works offline
        redoc_url=None,
    )
    app.state.detector, app.state.settings, app.state.metrics = detector, settings, metrics
    app.state.pool = InferencePool(settings.workers, settings.queue)
    # videos have a pool of their own: a long video never starves /v1/detect
    app.state.video_pool = InferencePool(settings.video_workers, settings.video_queue)
    # the database `maskwatch watch` writes, found as watch finds it: when there is one,
    # the page gets a Watch tab with live counts (and the database's error while unreachable)
    app.state.events_link = EventsLink(settings.database_url) if settings.database_exists else None

    # pure ASGI middleware, outermost last: count, CORS, then the gate (key and body size
    # checked before the app reads the body)
    app.add_middleware(
        Gate,
        limit_for=lambda path: settings.max_video_bytes if path.endswith("/video") else settings.max_image_bytes,
        key_ok=lambda given: key_ok(settings, given),
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["X-API-Key", "Authorization", "Content-Type"],
        )
    # the routes by which requests refused before routing (401, 413) are named in /metrics
    named_routes: list = []
    app.add_middleware(CountRequests, metrics=metrics, routes=named_routes)

    _error_handlers(app)
    from .routers import kserve  # the Open Inference Protocol (KServe v2)

    routers = [detect.router, tfserving.router, streams.router, health.router, kserve.router]
    if app.state.events_link is not None:
        from .routers import watch

        routers.append(watch.router)
    for router in routers:
        app.include_router(router)
        named_routes.extend(router.routes)
    _docs(app)

    # --- the web page (same process, no CDN, no build step) --------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index():
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _docs(app: FastAPI) -> None:
    """Swagger UI at /docs and ReDoc at /redoc with their assets from the fastapi-offline
    package (no CDN): the page's "API docs" link works without internet. Without that
    package, FastAPI's CDN pages."""
    try:
        import fastapi_offline
    except ImportError:
        app.get("/docs", include_in_schema=False)(
            lambda: get_swagger_ui_html(openapi_url="/openapi.json", title="maskwatch")
        )
        return
    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")
    title = f"{app.title} {app.version} - API docs"

    def page(path: str, name: str, render, **urls):
        """``render`` (FastAPI's docs page) at ``path``, the OpenAPI schema and ``urls`` under
        the app's root path (behind a proxy that mounts it below /)."""

        async def docs_page(request: Request):
            root = request.scope.get("root_path", "")
            return render(
                openapi_url=f"{root}{app.openapi_url}", title=title, **{k: f"{root}{v}" for k, v in urls.items()}
            )

        app.get(path, include_in_schema=False, name=name)(docs_page)

    page(
        "/docs",
        "swagger",
        get_swagger_ui_html,
        oauth2_redirect_url=app.swagger_ui_oauth2_redirect_url,
        swagger_js_url="/docs-assets/swagger-ui-bundle.js",
        swagger_css_url="/docs-assets/swagger-ui.css",
        swagger_favicon_url="/docs-assets/favicon.png",
    )

    @app.get(app.swagger_ui_oauth2_redirect_url, include_in_schema=False)
    async def swagger_redirect():
        return get_swagger_ui_oauth2_redirect_html()

    page(
        "/redoc",
        "redoc",
        functools.partial(get_redoc_html, with_google_fonts=False),
        redoc_js_url="/docs-assets/redoc.standalone.js",
        redoc_favicon_url="/docs-assets/favicon.png",
    )


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
