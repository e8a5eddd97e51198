"""Writing and reading what ``maskwatch watch`` saw. A counted person, its violation event
with snapshots, and the event's outbox rows are written in one transaction: after a crash
there is either all of it or none of it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, undefer

from ..labels import LABELS, VIOLATIONS
from .db import open_engine
from .schema import CameraStatus, Delivery, Event, Person


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass
class PersonRecord:
    """A decided track, as the counter hands it over."""

    camera: str
    run_id: str
    track_id: int
    label: str
    score: float
    frames: int
    first_seen: datetime
    last_seen: datetime
    box: tuple[float, float, float, float] = (0, 0, 0, 0)
    face_jpeg: bytes | None = None
    frame_jpeg: bytes | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def violation(self) -> bool:
        return self.label in VIOLATIONS


def event_dict(ev: Event) -> dict:
    """The one JSON form of a violation event: what sinks receive, what the API lists and
    what ``report.json`` holds. Snapshots are not inlined; they are fetched by their URLs on
    ``maskwatch serve``."""
    return {
        "id": ev.id,
        "type": "violation",
        "time": ev.time.isoformat() + "Z",
        "camera": ev.camera,
        "track_id": ev.track_id,
        "label": ev.label,
        "score": round(ev.score, 4),
        "box": [round(v, 1) for v in (ev.x1, ev.y1, ev.x2, ev.y2)],
        "person_id": ev.person_id,
        "face_url": f"/v1/events/{ev.id}/face.jpg",
        "frame_url": f"/v1/events/{ev.id}/frame.jpg",
    }


def record_event(person: PersonRecord, event_id: str) -> Event:
    return Event(
        id=event_id,
        person_id=person.id,
        time=person.last_seen,
        camera=person.camera,
        track_id=person.track_id,
        label=person.label,
        score=person.score,
        **dict(zip(("x1", "y1", "x2", "y2"), (float(v) for v in person.box))),
        face_jpeg=person.face_jpeg,
        frame_jpeg=person.frame_jpeg,
    )


class EventStore:
    """The events database for one process; thread-safe (a session per call)."""

    def __init__(self, url: str | None = None, engine: Engine | None = None):
        """Open (and migrate) the database at ``url``; None: the settings' database
        (``--database``/``MASKWATCH_DATABASE``, else SQLite in ``data_dir``)."""
        if engine is None and url is None:
            from ..settings import StoreSettings

            url = StoreSettings.resolve().database_url
        self.engine = engine or open_engine(url)

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    # -- writing -------------------------------------------------------------------------
    def record(self, person: PersonRecord, sinks: Iterable[str] = ()) -> str | None:
        """Store a counted person; for a violation also its event and one outbox row per
        sink. Returns the event id (None when the person wore a mask correctly)."""
        now = utcnow()
        with Session(self.engine) as s, s.begin():
            columns = ("id", "camera", "run_id", "track_id", "label", "score", "frames", "first_seen", "last_seen")
            s.add(Person(**{c: getattr(person, c) for c in columns}))
            if not person.violation:
                return None
            event_id = str(uuid.uuid4())
            s.flush()  # the person row before the event that refers to it
            s.add(record_event(person, event_id))
            s.flush()
            for sink in sinks:
                s.add(Delivery(event_id=event_id, sink=sink, attempts=0, next_attempt_at=now, failed=False))
        return event_id

    def heartbeat(
        self,
        name: str,
        source: str,
        state: str,
        frames: int = 0,
        reconnects: int = 0,
        fps: float = 0.0,
        message: str | None = None,
    ) -> None:
        with Session(self.engine) as s, s.begin():
            row = s.get(CameraStatus, name)
            if row is None:
                row = CameraStatus(name=name)
                s.add(row)
            row.source, row.state, row.frames, row.reconnects = source, state, frames, reconnects
            row.fps, row.message, row.updated_at = fps, message, utcnow()

    # -- reading -------------------------------------------------------------------------
    def people(self, since=None, until=None, cameras=None) -> list[tuple[str, str, datetime]]:
        """(camera, label, first_seen) for every counted person in the window."""
        q = _window(select(Person.camera, Person.label, Person.first_seen), Person, since, until, cameras)
        with Session(self.engine) as s:
            return [tuple(r) for r in s.execute(q.order_by(Person.first_seen))]

    def counts(self, since=None, until=None, cameras=None) -> dict:
        """Unique people per label and the compliance rate (with_mask / all counted)."""
        q = _window(select(Person.label, func.count()).group_by(Person.label), Person, since, until, cameras)
        with Session(self.engine) as s:
            found = dict(s.execute(q).all())
        return summarize({label: int(found.get(label, 0)) for label in LABELS})

    def events(self, since=None, until=None, cameras=None, limit: int = 50, snapshots: bool = False) -> list[Event]:
        q = _window(select(Event).order_by(Event.time.desc(), Event.id).limit(limit), Event, since, until, cameras)
        if snapshots:
            q = q.options(undefer(Event.face_jpeg), undefer(Event.frame_jpeg))
        with Session(self.engine, expire_on_commit=False) as s:
            return list(s.scalars(q))

    def event_count(self) -> int:
        with Session(self.engine) as s:
            return int(s.scalar(select(func.count()).select_from(Event)) or 0)

    def snapshot(self, event_id: str, kind: str = "face") -> bytes | None:
        column = Event.face_jpeg if kind == "face" else Event.frame_jpeg
        with Session(self.engine) as s:
            return s.scalar(select(column).where(Event.id == event_id))

    def cameras(self, names: list[str] | None = None) -> list[CameraStatus]:
        q = select(CameraStatus).order_by(CameraStatus.name)
        if names:
            q = q.where(CameraStatus.name.in_(names))
        with Session(self.engine, expire_on_commit=False) as s:
            return list(s.scalars(q))

    def deliveries(self, event_id: str | None = None) -> list[Delivery]:
        q = select(Delivery).order_by(Delivery.id)
        if event_id:
            q = q.where(Delivery.event_id == event_id)
        with Session(self.engine, expire_on_commit=False) as s:
            return list(s.scalars(q))


def _window(q, table, since: datetime | None, until: datetime | None, cameras: list[str] | None):
    """People are placed in time by when they appeared, events by when they were decided."""
    at = table.first_seen if table is Person else table.time
    if since:
        q = q.where(at >= since)
    if until:
        q = q.where(at < until)
    if cameras:
        q = q.where(table.camera.in_(cameras))
    return q


def summarize(per_label: dict[str, int]) -> dict:
    total = sum(per_label.values())
    return {
        "people": total,
        "per_label": per_label,
        "violations": sum(per_label[k] for k in VIOLATIONS),
        "compliance": round(per_label["with_mask"] / total, 4) if total else None,
    }


def tally(rows: Iterable[tuple[str, str, datetime]]) -> tuple[dict, dict[str, dict]]:
    """(total, per camera) summaries from (camera, label, first_seen) rows."""
    per_camera: dict[str, dict[str, int]] = {}
    for camera, label, _t in rows:
        per_camera.setdefault(camera, dict.fromkeys(LABELS, 0))[label] += 1
    total = summarize({label: sum(c[label] for c in per_camera.values()) for label in LABELS})
    return total, {name: summarize(counts) for name, counts in sorted(per_camera.items())}


def per_minute(rows: Iterable[tuple[str, str, datetime]], bucket: timedelta = timedelta(minutes=1)) -> list[dict]:
    """Counts and compliance per time bucket from (camera, label, first_seen) rows."""
    seconds = bucket.total_seconds()
    buckets: dict[datetime, dict[str, int]] = {}
    for _camera, label, t in rows:
        start = datetime.fromtimestamp((t.timestamp() // seconds) * seconds)
        buckets.setdefault(start, dict.fromkeys(LABELS, 0))[label] += 1
    return [{"start": start, **summarize(counts)} for start, counts in sorted(buckets.items())]
