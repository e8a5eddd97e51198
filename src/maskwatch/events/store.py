"""Writing and reading what ``maskwatch watch`` saw. A counted person, its violation event
with snapshots, and the event's outbox rows are written in one transaction: after a crash
there is either all of it or none of it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import Engine, case, func, select
from sqlalchemy.orm import Session, undefer

from ..labels import LABELS, VIOLATIONS, WITHOUT_MASK
from .db import open_engine
from .schema import CameraStatus, Delivery, Event, Person, SinkInfo

#: seconds without a heartbeat after which a camera that said "running" is shown as stale
#: (its process was killed or hangs); live workers beat at least every 10 s
STALE_AFTER = 60.0


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def utc_text(t: datetime | None, sep: str = "T", timespec: str = "seconds") -> str | None:
    """A stored (naive UTC) time as ISO 8601 with a ``Z``: 2026-11-22T08:00:00Z."""
    return None if t is None else t.isoformat(sep=sep, timespec=timespec) + "Z"


def camera_state(row: CameraStatus, now: datetime | None = None, stale_after: float = STALE_AFTER) -> str:
    """The state to show: a camera that last said starting/running/reconnecting but whose
    heartbeat is older than ``stale_after`` s is "stale" (its watch process is gone or hung:
    its last state is unknown), not "running"."""
    if row.state in ("stopped", "failed"):
        return row.state
    age = ((now or utcnow()) - row.updated_at).total_seconds()
    return "stale" if age > stale_after else row.state


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
        "time": utc_text(ev.time, timespec="auto"),
        "camera": ev.camera,
        "track_id": ev.track_id,
        "label": ev.label,
        "score": round(ev.score, 4),
        "box": [round(v, 1) for v in (ev.x1, ev.y1, ev.x2, ev.y2)],
        "person_id": ev.person_id,
        "face_url": f"/v1/events/{ev.id}/face.jpg",
        "frame_url": f"/v1/events/{ev.id}/frame.jpg",
        "test": bool(ev.test),
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

    def overview(self) -> dict:
        """What the whole database holds: people, runs (``watch`` starts), the first and last
        person's time, and every camera name it knows."""
        with Session(self.engine) as s:
            people, runs, first, last = s.execute(
                select(
                    func.count(),
                    func.count(func.distinct(Person.run_id)),
                    func.min(Person.first_seen),
                    func.max(Person.first_seen),
                )
            ).one()
            names = set(s.scalars(select(func.distinct(Person.camera))))
            names |= set(s.scalars(select(CameraStatus.name)))
        return {
            "people": int(people or 0),
            "runs": int(runs or 0),
            "first": first,
            "last": last,
            "cameras": sorted(names),
        }

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

    # -- sinks ---------------------------------------------------------------------------
    def register_sinks(self, sinks: Iterable) -> None:
        """Record the sinks a ``watch`` process delivers to (name and type)."""
        now = utcnow()
        with Session(self.engine) as s, s.begin():
            for sink in sinks:
                row = s.get(SinkInfo, sink.name) or SinkInfo(name=sink.name)
                row.type, row.updated_at = type(sink).__name__.removesuffix("Sink").lower(), now
                s.add(row)

    def sink_states(self) -> list[dict]:
        """Per sink and camera: the last delivery, what is still pending, the last error
        (what the Watch page shows for each configured sink)."""
        q = (
            select(
                Delivery.sink,
                Event.camera,
                func.max(Delivery.delivered_at),
                func.sum(case((Delivery.delivered_at.is_(None) & Delivery.failed.is_(False), 1), else_=0)),
                func.sum(case((Delivery.failed.is_(True), 1), else_=0)),
            )
            .join(Event, Event.id == Delivery.event_id)
            .group_by(Delivery.sink, Event.camera)
            .order_by(Delivery.sink, Event.camera)
        )
        with Session(self.engine) as s:
            types = dict(s.execute(select(SinkInfo.name, SinkInfo.type)).all())
            rows = s.execute(q).all()
            out = []
            for sink, camera, last, pending, failed in rows:
                error = s.scalar(
                    select(Delivery.last_error)
                    .join(Event, Event.id == Delivery.event_id)
                    .where(Delivery.sink == sink, Event.camera == camera, Delivery.last_error.is_not(None))
                    .order_by(Delivery.id.desc())
                    .limit(1)
                )
                out.append(
                    {
                        "sink": sink,
                        "type": types.get(sink),
                        "camera": camera,
                        "last_delivery": utc_text(last),
                        "pending": int(pending or 0),
                        "failed": int(failed or 0),
                        "last_error": error,
                    }
                )
            for name in sorted(set(types) - {r["sink"] for r in out}):  # configured, nothing sent yet
                out.append(
                    {
                        "sink": name,
                        "type": types[name],
                        "camera": None,
                        "last_delivery": None,
                        "pending": 0,
                        "failed": 0,
                        "last_error": None,
                    }
                )
        return out

    def record_test_alert(self, camera: str = "test-alert") -> tuple[str, list[str]]:
        """A marked test event with one outbox row per registered sink, so the running
        ``watch`` delivers it through every sink; never counted. Returns (event id, sinks)."""
        now = utcnow()
        person_id, event_id = str(uuid.uuid4()), str(uuid.uuid4())
        with Session(self.engine) as s, s.begin():
            sinks = list(s.scalars(select(SinkInfo.name).order_by(SinkInfo.name)))
            s.add(
                Person(
                    id=person_id,
                    camera=camera,
                    run_id="test",
                    track_id=0,
                    label=WITHOUT_MASK,
                    score=1.0,
                    frames=0,
                    first_seen=now,
                    last_seen=now,
                    test=True,
                )
            )
            s.flush()
            s.add(
                Event(
                    id=event_id,
                    person_id=person_id,
                    time=now,
                    camera=camera,
                    track_id=0,
                    label=WITHOUT_MASK,
                    score=1.0,
                    x1=0.0,
                    y1=0.0,
                    x2=0.0,
                    y2=0.0,
                    test=True,
                )
            )
            s.flush()
            for sink in sinks:
                s.add(Delivery(event_id=event_id, sink=sink, attempts=0, next_attempt_at=now, failed=False))
        return event_id, sinks

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
    return q.where(table.test.is_(False))  # test alerts are never counted or listed


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
        # buckets aligned in UTC (stored times are naive UTC), whatever the machine's zone
        epoch = t.replace(tzinfo=timezone.utc).timestamp()
        start = datetime.fromtimestamp((epoch // seconds) * seconds, timezone.utc).replace(tzinfo=None)
        buckets.setdefault(start, dict.fromkeys(LABELS, 0))[label] += 1
    return [{"start": start, **summarize(counts)} for start, counts in sorted(buckets.items())]
