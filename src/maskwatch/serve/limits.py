"""Pure ASGI middleware at the front of the app.

:class:`Gate` checks the API key and the body size *before* the app reads a byte of the body:
an unauthenticated 50 MB upload gets its 401 at once, and an oversized body its 413 while it
streams in (Content-Length first when given; chunked bodies are counted), whatever part of
the app was reading it (multipart parser, JSON body, raw bytes).

:class:`CountRequests` counts every HTTP request once in /metrics, by route name and status,
including those the gate refused and those that failed with an unexpected error (answered
with a JSON 500)."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable

from .deps import scope_key

log = logging.getLogger("maskwatch.serve")

#: paths that need the API key (when one is set); the page, its assets, /docs, /healthz and
#: /readyz do not
PROTECTED = ("/v1/", "/metrics", "/v2/models/")


def protected(path: str) -> bool:
    """Routes whose key is checked before the body is read; health probes (``/v2/health``,
    ``/v2/models/NAME/ready``) need none."""
    return path.startswith(PROTECTED) and not path.endswith("/ready")


class BodyTooLarge(Exception):
    pass


class Gate:
    def __init__(self, app, limit_for: Callable[[str], int], key_ok: Callable[[bytes | None], bool]):
        self.app = app
        self.limit_for = limit_for  # path -> bytes
        self.key_ok = key_ok

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] == "OPTIONS":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if protected(path) and not self.key_ok(scope_key(scope)):
            return await json_error(
                send,
                401,
                "missing or wrong API key (send X-API-Key or Authorization: Bearer)",
                [(b"www-authenticate", b"Bearer")],
                v2=path.startswith("/v2/"),
            )
        if scope["method"] in ("GET", "HEAD"):
            return await self.app(scope, receive, send)
        limit = self.limit_for(path)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return await _too_large(send, limit)
        seen = 0
        exceeded = started = False

        async def limited_receive():
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message):
            # once the body went over the limit, whatever the app answers (parsers turn the
            # error into a 400) is replaced by the one 413
            nonlocal started
            if exceeded:
                if not started:
                    started = True
                    await _too_large(send, limit)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with contextlib.suppress(BodyTooLarge):  # the app did not catch it: answered below
            await self.app(scope, limited_receive, guarded_send)
        if exceeded and not started:
            await _too_large(send, limit)


async def json_error(
    send, status: int, message: str, headers: list[tuple[bytes, bytes]] = (), v2: bool = False
) -> None:
    """A JSON error answered before the app runs: maskwatch's shape, or the Open Inference
    Protocol's ``{"error": message}`` on ``/v2`` routes (what Triton clients read)."""
    error = message if v2 else {"code": status, "message": message}
    body = json.dumps({"error": error}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _too_large(send, limit: int) -> None:
    await json_error(send, 413, f"request body exceeds the limit of {limit:,} bytes")


class CountRequests:
    """Every HTTP request, whatever its outcome, counted once by route name and status (at
    the response's start, so a long MJPEG stream is counted when it starts)."""

    def __init__(self, app, metrics, routes: list):
        self.app, self.metrics, self.routes = app, metrics, routes

    def _route(self, scope) -> str:
        route = scope.get("route")
        if route is None:  # refused before routing (401, 413): name the route it was for
            from starlette.routing import Match

            route = next(
                (r for r in self.routes if getattr(r, "name", None) and r.matches(scope)[0] == Match.FULL), None
            )
        return getattr(route, "name", None) or "unmatched"

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started_at = time.perf_counter()
        started = False

        async def counting_send(message):
            nonlocal started
            if message["type"] == "http.response.start" and not started:
                started = True
                self.metrics.record(self._route(scope), message["status"], started_at)
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        except Exception:
            if started:
                raise
            log.exception("unexpected error in %s %s", scope["method"], scope["path"])
            # counted by counting_send; the traceback stays in the log, the client gets JSON
            await json_error(counting_send, 500, "internal server error (see the server log)")
