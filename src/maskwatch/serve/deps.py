"""What the routers share. One app's detector, settings, inference pool, metrics and events
store live on ``app.state`` (set by :func:`maskwatch.serve.app.create_app`); these helpers
read them from there, so routers are plain module-level ``APIRouter`` objects.

Every request reaches the model through :func:`infer`, the one place where ``min_score`` is
resolved (the request's, else the server's setting) and applied: the detector itself returns
every face."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import Counter
from urllib.parse import unquote_to_bytes

import numpy as np
from fastapi import Depends, Request
from starlette.datastructures import State

from ..detections import Detections
from ..errors import HttpError, StoreError
from ..images import decode_image
from ..settings import ServeSettings

log = logging.getLogger("maskwatch.serve")


# --- auth ------------------------------------------------------------------------------------
def scope_key(scope) -> bytes | None:
    """The key a request or WebSocket sent, as raw bytes: X-API-Key, ``Authorization: Bearer``,
    or ``?api_key=`` (``<img>`` and WebSockets cannot send headers). Bytes, so a key with
    non-ASCII characters is simply a wrong key, never an error."""
    headers = dict(scope.get("headers") or [])
    given = headers.get(b"x-api-key")
    auth = headers.get(b"authorization", b"")
    if given is None and auth[:7].lower() == b"bearer ":
        given = auth[7:].strip()
    if given is None:
        for pair in (scope.get("query_string") or b"").split(b"&"):
            name, _, value = pair.partition(b"=")
            if unquote_to_bytes(name.replace(b"+", b" ")) == b"api_key":
                return unquote_to_bytes(value.replace(b"+", b" "))
    return given


def key_ok(settings: ServeSettings, given: bytes | str | None) -> bool:
    """True when no key is set, or ``given`` is it (compared in constant time, as bytes)."""
    if settings.api_key is None:
        return True
    if given is None:
        return False
    if isinstance(given, str):
        given = given.encode("utf-8", "surrogatepass")
    return secrets.compare_digest(given, settings.api_key.encode("utf-8", "surrogatepass"))


def require_key(request: Request) -> None:
    """X-API-Key, ``Authorization: Bearer``, or ``?api_key=`` (for ``<img>`` and WebSockets).
    The :class:`~maskwatch.serve.limits.Gate` middleware already refused a wrong key before
    the body was read; this dependency documents the key in OpenAPI and guards routes
    mounted elsewhere."""
    if not key_ok(request.app.state.settings, scope_key(request.scope)):
        raise HttpError(
            401, "missing or wrong API key (send X-API-Key or Authorization: Bearer)", {"WWW-Authenticate": "Bearer"}
        )


#: ``dependencies=`` of every route that needs the key
AUTH = [Depends(require_key)]


# --- inference -------------------------------------------------------------------------------
def min_score_for(settings: ServeSettings, given: float | None) -> float:
    """A request's ``min_score`` when it sent one, else the server's setting."""
    return settings.min_score if given is None else given


def decode(state: State, data: bytes, name: str) -> np.ndarray:
    """Image bytes to BGR; bad bytes raise a :class:`~maskwatch.errors.BadInputError`
    (400, 413 too many pixels, 415 not an image)."""
    return decode_image(data, name, state.settings.max_pixels)


async def infer(state: State, image: np.ndarray, min_score: float | None) -> Detections:
    """The one way requests reach the model: bounded by the pool, faces below ``min_score``
    dropped, and every face counted by label."""
    state.metrics.in_flight.inc()
    try:
        dets = await state.pool.run(state.detector.detect, image)
    finally:
        state.metrics.in_flight.dec()
    dets = dets.above(min_score_for(state.settings, min_score))
    for label in dets.labels:
        state.metrics.faces.labels(label).inc()
    return dets


def label_counts(dets: Detections) -> dict[str, int]:
    """Faces per label, in the order labels first appear (by descending score)."""
    return dict(Counter(dets.labels))


# --- the events database ---------------------------------------------------------------------
class EventsLink:
    """The events database ``maskwatch watch`` writes, for the Watch routes. One that cannot
    be reached does not stop the server: detection goes on, the Watch routes answer 503 with
    the database's error (:attr:`error`, also in /v1/info), and the database is tried again
    at most every :attr:`retry_s` seconds, so the page recovers once it is back."""

    retry_s = 10.0

    def __init__(self, url: str):
        self.url = url
        self.error: str | None = None
        self._store = None
        self._tried = 0.0
        self._lock = threading.Lock()
        self._open()

    def _open(self) -> None:
        from ..events.store import EventStore

        try:
            self._store, self.error = EventStore(self.url), None
        except Exception as exc:  # StoreError (refused, wrong password, unwritable folder), a driver missing
            self.error = str(exc) or exc.__class__.__name__
            log.warning("events database unavailable (the Watch routes answer 503): %s", self.error)
        self._tried = time.monotonic()

    def store(self):
        """The open store; raises :class:`~maskwatch.errors.StoreError` (503) while unreachable."""
        if self._store is None:
            with self._lock:
                if self._store is None and time.monotonic() - self._tried >= self.retry_s:
                    self._open()
        if self._store is None:
            raise StoreError(f"the events database is unavailable: {self.error}")
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
