"""Read-only routes over the events database that ``maskwatch watch`` writes: live counts,
camera states, latest violations and their snapshots, for the web page and for scripts.
Included only when the server has a database. When that database cannot be reached, these
routes answer 503 with the database's error (and try it again now and then), while
detection goes on.

Plain ``def`` routes: FastAPI runs them in its thread pool, so database calls never block
the event loop."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from ...errors import ConfigError, HttpError
from ...events.store import event_dict, tally
from ...events.watch_report import parse_time
from ..deps import AUTH

router = APIRouter(prefix="/v1", tags=["watch: counts and violation events"], dependencies=AUTH)


def events_store(request: Request):
    """The open events database, or a 503 with why it is not (see :class:`EventsLink`)."""
    return request.app.state.events_link.store()


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
    test: bool = False


class SinkStateOut(BaseModel):
    """One sink's deliveries for one camera's events (camera None: nothing sent yet)."""

    sink: str
    type: str | None = None
    camera: str | None = None
    last_delivery: datetime | None = None
    pending: int = 0
    failed: int = 0
    last_error: str | None = None


class SummaryOut(BaseModel):
    since: datetime | None
    total: CountsOut
    per_camera: dict[str, CountsOut]
    cameras: list[CameraOut]
    events: list[EventOut]
    sinks: list[SinkStateOut] = []


class TestAlertOut(BaseModel):
    event_id: str
    sinks: list[str]
    message: str


def _since(text: str | None, name: str = "since") -> datetime | None:
    try:
        return parse_time(text)
    except (ValueError, OverflowError, ConfigError):  # 999999999999d is before year 1
        raise HttpError(
            422, f"{name}: {text!r} is not a time: use 'today', an age (2h, 30m, 7d) or an ISO time (UTC)"
        ) from None


@router.get("/watch/summary", response_model=SummaryOut)
def summary(
    request: Request,
    since: str | None = Query("today", description="'today', an age (2h, 30m, 7d) or an ISO time (UTC)"),
    camera: list[str] = Query([], description="Only these cameras"),
    events: int = Query(12, ge=0, le=200, description="Latest violations to include"),
    store=Depends(events_store),
):
    """Unique people per label and compliance (overall and per camera), camera states and
    the latest violations: what the web page's Watch tab shows, refreshed every few seconds."""
    start = _since(since)
    cams = list(camera) or None
    total, per_camera = tally(store.people(start, None, cams))
    return SummaryOut(
        since=start,
        total=total,
        per_camera=per_camera,
        cameras=[CameraOut.model_validate(c, from_attributes=True) for c in store.cameras(cams)],
        events=[event_dict(e) for e in store.events(start, None, cams, limit=events)] if events else [],
        sinks=store.sink_states(),
    )


@router.get("/watch/sinks", response_model=list[SinkStateOut])
def sinks(request: Request, store=Depends(events_store)):
    """Each configured sink's state per camera: last delivery, pending in the outbox, last error."""
    return store.sink_states()


@router.post("/watch/test-alert", response_model=TestAlertOut)
def test_alert(request: Request, store=Depends(events_store)):
    """A marked test event (``"test": true``, never counted) sent through every sink that a
    running ``maskwatch watch`` has registered: its outbox delivers it within a second or so."""
    event_id, names = store.record_test_alert()
    if not names:
        message = "no sinks registered yet: start maskwatch watch with sinks on this database"
    else:
        message = f"test alert queued for {', '.join(names)}"
    return TestAlertOut(event_id=event_id, sinks=names, message=message)


@router.get("/events", response_model=list[EventOut])
def list_events(
    request: Request,
    since: str | None = Query(None, description="'today', an age (2h, 30m, 7d) or an ISO time (UTC)"),
    until: str | None = Query(None),
    camera: list[str] = Query([]),
    limit: int = Query(50, ge=1, le=1000),
    store=Depends(events_store),
):
    """Violation events, newest first."""
    return [event_dict(e) for e in store.events(_since(since), _since(until, "until"), list(camera) or None, limit)]


@router.get("/events/{event_id}/{kind}.jpg", response_class=Response, responses={200: {"content": {"image/jpeg": {}}}})
def snapshot(request: Request, event_id: str, kind: str, store=Depends(events_store)):
    """The face (``face.jpg``) or the whole frame with the face boxed (``frame.jpg``)."""
    if kind not in ("face", "frame"):
        raise HttpError(404, "snapshots are face.jpg and frame.jpg")
    data = store.snapshot(event_id, kind)
    if data is None:
        raise HttpError(404, f"no {kind} snapshot for event {event_id}")
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "max-age=86400, immutable"})
