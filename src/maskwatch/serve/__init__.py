"""``maskwatch serve``: HTTP (FastAPI) and gRPC APIs and a web page, on one Detector.

:func:`run_server` is what the CLI verb calls with resolved
:class:`~maskwatch.settings.ServeSettings`; :func:`maskwatch.serve.app.create_app` builds the
ASGI app alone (tests, embedding)."""

from .server import run_server

__all__ = ["run_server"]
