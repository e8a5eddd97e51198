"""What the routers share. One app's detector, settings, inference pool, metrics and events
store live on ``app.state`` (set by :func:`maskwatch.serve.app.create_app`); these helpers
read them from there, so routers are plain module-level ``APIRouter`` objects.

Every request reaches the model through :func:`infer`, the one place where ``min_score`` is
resolved (the request's, else the server's setting) and applied: the detector itself returns
every face."""

from __future__ import annotations

import secrets
from collections import Counter

import numpy as np
from fastapi import Depends, Request
from starlette.datastructures import State

from ..detections import Detections
from ..errors import HttpError
from ..images import decode_image
from ..settings import ServeSettings


# --- auth ------------------------------------------------------------------------------------
def key_ok(settings: ServeSettings, given: str | None) -> bool:
    return settings.api_key is None or (given is not None and secrets.compare_digest(given, settings.api_key))


def require_key(request: Request) -> None:
    """X-API-Key, ``Authorization: Bearer``, or ``?api_key=`` (for ``<img>`` and WebSockets)."""
    given = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if given is None and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    if given is None:  # <img src> (MJPEG) and WebSockets cannot send headers
        given = request.query_params.get("api_key")
    if not key_ok(request.app.state.settings, given):
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
