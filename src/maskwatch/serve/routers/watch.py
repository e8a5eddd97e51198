"""Read-only routes over the events database that ``maskwatch watch`` writes: live counts,
camera states, latest violations and their snapshots, for the web page and for scripts.
Included only when the server has a database (``app.state.events``).

Plain ``def`` routes: FastAPI runs them in its thread pool, so database calls never block
the event loop."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from ...errors import HttpError
from ...events.store import event_dict, tally
from ...events.watch_report import parse_time
from ..deps import AUTH

router = APIRouter(prefix="/v1", tags=["watch: counts and violation events"], dependencies=AUTH)


class CountsOut(BaseModel):
    people: int
    per_label: dict[str, int]
    violations: int
    compliance: float | None


class CameraOut(BaseModel):
    name: str
    state: str
    frames: int
    reconnects: int
    fps: float
    updated_at: datetime
    message: str | None = None


class EventOut(BaseModel):
    """:func:`maskwatch.events.store.event_dict`, the one JSON form of an event."""

    id: str
    type: str = "violation"
    time: datetime
    camera: str
    track_id: int
    label: str
    score: float
    box: list[float] | None = None
    person_id: str | None = None
    face_url: str
    frame_url: str


class SummaryOut(BaseModel):
    since: datetime | None
    total: CountsOut
    per_camera: dict[str, CountsOut]
    cameras: list[CameraOut]
    events: list[EventOut]


def _since(text: str | None) -> datetime | None:
    try:
        return parse_time(text)
    except ValueError as exc:
        raise HttpError(422, str(exc)) from None


@router.get("/watch/summary", response_model=SummaryOut)
def summary(
    request: Request,
    since: str | None = Query("today", description="'today', an age (2h, 30m, 7d) or an ISO time (UTC)"),
    camera: list[str] = Query([], description="Only these cameras"),
    events: int = Query(12, ge=0, le=200, description="Latest violations to include"),
):
    """Unique people per label and compliance (overall and per camera), camera states and
    the latest violations: what the web page's Watch tab shows, refreshed every few seconds."""
    store = request.app.state.events
    start = _since(since)
    cams = list(camera) or None
    total, per_camera = tally(store.people(start, None, cams))
    return SummaryOut(
        since=start,
        total=total,
        per_camera=per_camera,
        cameras=[CameraOut.model_validate(c, from_attributes=True) for c in store.cameras(cams)],
        events=[event_dict(e) for e in store.events(start, None, cams, limit=events)] if events else [],
    )


@router.get("/events", response_model=list[EventOut])
def list_events(
    request: Request,
    since: str | None = Query(None, description="'today', an age (2h, 30m, 7d) or an ISO time (UTC)"),
    until: str | None = Query(None),
    camera: list[str] = Query([]),
    limit: int = Query(50, ge=1, le=1000),
):
    """Violation events, newest first."""
    store = request.app.state.events
    return [event_dict(e) for e in store.events(_since(since), _since(until), list(camera) or None, limit)]


@router.get("/events/{event_id}/{kind}.jpg", response_class=Response, responses={200: {"content": {"image/jpeg": {}}}})
def snapshot(request: Request, event_id: str, kind: str):
    """The face (``face.jpg``) or the whole frame with the face boxed (``frame.jpg``)."""
    if kind not in ("face", "frame"):
        raise HttpError(404, "snapshots are face.jpg and frame.jpg")
    data = request.app.state.events.snapshot(event_id, kind)
    if data is None:
        raise HttpError(404, f"no {kind} snapshot for event {event_id}")
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "max-age=86400, immutable"})
