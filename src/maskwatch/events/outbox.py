"""Delivering the outbox: each (event, sink) row is sent until the sink answers 2xx, with
exponential backoff between tries. Rows live in the database, so events written during a
webhook outage, or before a restart, are delivered when it comes back, once each."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..errors import DeliveryError
from .schema import Delivery, Event
from .store import EventStore, event_dict, utcnow

log = logging.getLogger("maskwatch.events")


def backoff(attempts: int, base: float = 1.0, cap: float = 300.0) -> float:
    """Seconds to wait after ``attempts`` failures: 1, 2, 4 ... capped at 5 minutes."""
    return min(cap, base * 2 ** max(0, attempts - 1))


class OutboxWorker:
    """Sends due outbox rows in a background thread. ``drain`` sends what is due now (used
    at shutdown and by tests); ``start``/``stop`` run it until asked to stop."""

    def __init__(
        self,
        store: EventStore,
        sinks: list,
        poll: float = 0.5,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        batch: int = 50,
    ):
        self.store = store
        self.sinks = {s.name: s for s in sinks if getattr(s, "durable", False)}
        self.poll = poll
        self.base_delay, self.max_delay = base_delay, max_delay
        self.batch = batch
        self.delivered = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def drain(self) -> int:
        """Try every due row once; returns how many were delivered."""
        if not self.sinks:
            return 0
        sent = 0
        with Session(self.store.engine) as s:
            due = s.scalars(
                select(Delivery.id)
                .where(Delivery.delivered_at.is_(None), Delivery.failed.is_(False))
                .where(Delivery.next_attempt_at <= utcnow(), Delivery.sink.in_(list(self.sinks)))
                .order_by(Delivery.id)
                .limit(self.batch)
            ).all()
        for row_id in due:
            if self._stop.is_set():
                break
            sent += self._deliver(row_id)
        self.delivered += sent
        return sent

    def _deliver(self, row_id: int) -> int:
        # One transaction per row; on PostgreSQL the row is locked (SKIP LOCKED), so two
        # watch processes sharing a database never send the same row at once.
        with Session(self.store.engine) as s, s.begin():
            row = s.scalars(
                select(Delivery)
                .where(Delivery.id == row_id, Delivery.delivered_at.is_(None))
                .with_for_update(skip_locked=True)
            ).first()
            if row is None:
                return 0
            event = s.get(Event, row.event_id)
            sink = self.sinks[row.sink]
            row.attempts += 1
            try:
                sink.send(event_dict(event))
            except DeliveryError as exc:
                row.last_error = str(exc)
                if exc.permanent:
                    row.failed = True
                    log.error("event %s: %s refused it for good: %s", row.event_id, row.sink, exc)
                else:
                    delay = backoff(row.attempts, self.base_delay, self.max_delay)
                    row.next_attempt_at = utcnow() + timedelta(seconds=delay)
                    log.warning(
                        "event %s: %s failed (try %d), next in %.0f s: %s",
                        row.event_id,
                        row.sink,
                        row.attempts,
                        delay,
                        exc,
                    )
                return 0
            row.delivered_at = utcnow()
            row.last_error = None
            return 1

    def pending(self) -> int:
        q = (
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.delivered_at.is_(None), Delivery.failed.is_(False))
        )
        with Session(self.store.engine) as s:
            return int(s.scalar(q) or 0)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.drain()
            except Exception as exc:  # database briefly unreachable: keep the thread alive
                log.warning("outbox: %s", exc)
            self._stop.wait(self.poll)

    def start(self) -> OutboxWorker:
        if self.sinks and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="outbox", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._stop = threading.Event()  # a last drain() after stop() still sends
