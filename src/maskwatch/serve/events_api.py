"""Read-only routes over the events database that ``maskwatch watch`` writes: live counts,
camera states, latest violations and their snapshots, for the web page and for scripts.

Plain ``def`` routes: FastAPI runs them in its thread pool, so database calls never block
the event loop."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel

from ..events.report import parse_time
from ..events.store import EventStore, tally


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
    id: str
    time: datetime
    camera: str
    track_id: int
    label: str
    score: float
    face_url: str
    frame_url: str


class SummaryOut(BaseModel):
    since: datetime | None
    total: CountsOut
    per_camera: dict[str, CountsOut]
    cameras: list[CameraOut]
    events: list[EventOut]


def _event_out(e) -> EventOut:
    return EventOut(
        id=e.id,
        time=e.time,
        camera=e.camera,
        track_id=e.track_id,
        label=e.label,
        score=round(e.score, 4),
        face_url=f"/v1/events/{e.id}/face.jpg",
        frame_url=f"/v1/events/{e.id}/frame.jpg",
    )


def events_router(store: EventStore, auth: list, error) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["watch: counts and violation events"], dependencies=auth)

    def _since(text: str | None) -> datetime | None:
        try:
            return parse_time(text)
        except ValueError as exc:
            raise error(422, str(exc)) from None

    @router.get("/watch/summary", response_model=SummaryOut)
    def summary(
        since: str | None = Query("today", description="'today', an age (2h, 30m, 7d) or an ISO time (UTC)"),
        camera: list[str] = Query([], description="Only these cameras"),
        events: int = Query(12, ge=0, le=200, description="Latest violations to include"),
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
            events=[_event_out(e) for e in store.events(start, None, cams, limit=events)] if events else [],
        )

    @router.get("/events", response_model=list[EventOut])
    def list_events(
        since: str | None = Query(None, description="'today', an age (2h, 30m, 7d) or an ISO time (UTC)"),
        until: str | None = Query(None),
        camera: list[str] = Query([]),
        limit: int = Query(50, ge=1, le=1000),
    ):
        """Violation events, newest first."""
        return [_event_out(e) for e in store.events(_since(since), _since(until), list(camera) or None, limit)]

    @router.get(
        "/events/{event_id}/{kind}.jpg", response_class=Response, responses={200: {"content": {"image/jpeg": {}}}}
    )
    def snapshot(event_id: str, kind: str):
        """The face (``face.jpg``) or the whole frame with the face boxed (``frame.jpg``)."""
        if kind not in ("face", "frame"):
            raise error(404, "snapshots are face.jpg and frame.jpg")
        data = store.snapshot(event_id, kind)
        if data is None:
            raise error(404, f"no {kind} snapshot for event {event_id}")
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "max-age=86400, immutable"})

    return router
