"""``maskwatch serve``: the HTTP server (uvicorn) and the gRPC server on one detector."""

from __future__ import annotations

import sys
from collections.abc import Callable

from ..errors import require
from ..settings import ServeSettings


def run_server(settings: ServeSettings, log: Callable[[str], None] | None = None) -> None:
    """Serve until stopped: the web page and HTTP API on ``settings.host:port``, and gRPC on
    ``settings.grpc_port`` (none when 0), all on the one detector ``settings.detector()``.
    ``log`` gets the lines saying where it listens (default: printed to stderr).

    Raises:
        MissingExtraError: the [serve] extra is not installed.
        ModelError, ConfigError: the model cannot be loaded.
        ConfigError: the gRPC port is taken.
    """
    log = log or (lambda line: print(line, file=sys.stderr))
    uvicorn = require("uvicorn", "maskwatch serve", "serve")
    require("fastapi", "maskwatch serve", "serve")
    from .app import create_app

    detector = settings.detector()
    app = create_app(detector, settings)
    link = app.state.events_link
    if link is not None and link.error:
        log(f"warning: the Watch tab is off until the events database answers: {link.error}")
    grpc_server = None
    if settings.grpc_port:
        grpc_server, bound = start_grpc_server(detector, settings, settings.workers)
        log(f"gRPC on {settings.host}:{bound}")
    log(f"web page and API on http://{settings.host}:{settings.port}/ (docs: /docs)")
    try:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
    finally:
        if grpc_server is not None:
            grpc_server.stop(grace=2)
        app.state.pool.shutdown()
        app.state.video_pool.shutdown()
        if app.state.events_link is not None:
            app.state.events_link.close()


def start_grpc_server(detector, settings: ServeSettings, workers: int):
    """gRPC (maskwatch and KServe v2, ``proto/``) on ``settings.grpc_port`` with the
    settings' key and limits, started: (server, bound port). ``detector``: anything with
    ``detect`` and ``model_version`` (the loaded one, or Ray replicas behind a handle);
    ``workers``: the server's threads.

    Raises:
        MissingExtraError: no grpcio. ConfigError: the port is taken.
    """
    require("grpc", "maskwatch serve (gRPC)", "serve")
    from .grpc_server import create_grpc_server

    server, bound = create_grpc_server(
        detector,
        settings.grpc_port,
        settings.host,
        workers=workers,
        api_key=settings.api_key,
        max_bytes=settings.max_image_bytes,
        min_score=settings.min_score,
        max_pixels=settings.max_pixels,
        model_name=settings.model_name,
    )
    server.start()
    return server, bound
