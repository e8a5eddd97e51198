"""The events database: who was counted, which of them were violations, what still has to
be delivered, and how each camera is doing.

Times are naive UTC everywhere: SQLite has no time zones, and one convention for both
back ends keeps reports comparable."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, deferred, mapped_column


class Base(DeclarativeBase):
    pass


class Person(Base):
    """One person counted on one camera: a track that lasted long enough (and passed the
    zone or line, if the camera has one), with the label its frames voted for."""

    __tablename__ = "people"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    camera: Mapped[str] = mapped_column(String(100), index=True)
    run_id: Mapped[str] = mapped_column(String(36))
    track_id: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(32))
    score: Mapped[float] = mapped_column(Float)
    frames: Mapped[int] = mapped_column(Integer)
    first_seen: Mapped[datetime] = mapped_column(DateTime, index=True)
    last_seen: Mapped[datetime] = mapped_column(DateTime)
    #: a test alert (the Watch page's button), never counted
    test: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Event(Base):
    """A violation: a person whose decided label is without_mask or mask_incorrect. The
    snapshots live in the row so an event and its evidence are written in one transaction."""

    __tablename__ = "events"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id"), index=True)
    time: Mapped[datetime] = mapped_column(DateTime, index=True)
    camera: Mapped[str] = mapped_column(String(100), index=True)
    track_id: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(32))
    score: Mapped[float] = mapped_column(Float)
    # the face box in frame pixels
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    face_jpeg: Mapped[bytes | None] = deferred(mapped_column(LargeBinary, nullable=True))
    frame_jpeg: Mapped[bytes | None] = deferred(mapped_column(LargeBinary, nullable=True))
    #: a test alert sent through every sink from the Watch page; not a violation
    test: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Delivery(Base):
    """The durable outbox: one row per event and sink, written with the event, removed from
    the queue only once the sink answered 2xx."""

    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("event_id", "sink", name="uq_outbox_event_sink"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"), index=True)
    sink: Mapped[str] = mapped_column(String(100))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    failed: Mapped[bool] = mapped_column(Boolean, default=False)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # the worker sending this row now, and until when its claim holds (a crashed worker's
    # claim lapses, so another process or a restart sends the row)
    claimed_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class CameraStatus(Base):
    """A heartbeat per camera, so the web page and the report can say which are live."""

    __tablename__ = "cameras"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(32))  # starting | running | reconnecting | stopped | failed
    frames: Mapped[int] = mapped_column(Integer, default=0)
    reconnects: Mapped[int] = mapped_column(Integer, default=0)
    fps: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class SinkInfo(Base):
    """The sinks a ``watch`` process delivers to, so the Watch page can show their state and
    send a test alert through every one of them (whichever process runs them)."""

    __tablename__ = "sinks"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(DateTime)
