"""Delivering the outbox: each (event, sink) row is sent until the sink answers 2xx, with
exponential backoff between tries. Rows live in the database, so events written during a
webhook outage, or before a restart, are delivered when it comes back, once each.

A row is claimed (one UPDATE ... WHERE nobody holds it) before it is sent, so several
processes on one database, SQLite or PostgreSQL, never send the same row at the same time."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import timedelta

from sqlalchemy import func, or_, select, update
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
        self.worker_id = str(uuid.uuid4())  # whose claim a row carries
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def drain(self, deadline: float | None = None) -> int:
        """Try every due row once; returns how many were delivered. ``deadline`` (a
        ``time.monotonic()`` value) bounds the whole round: no request outlives it."""
        if not self.sinks:
            return 0
        sent = 0
        now = utcnow()
        with Session(self.store.engine) as s:
            due = s.scalars(
                select(Delivery.id)
                .where(Delivery.delivered_at.is_(None), Delivery.failed.is_(False))
                .where(Delivery.next_attempt_at <= now, Delivery.sink.in_(list(self.sinks)))
                .where(or_(Delivery.claimed_by.is_(None), Delivery.claimed_until < now))
                .order_by(Delivery.id)
                .limit(self.batch)
            ).all()
        for row_id in due:
            if self._stop.is_set() or (deadline is not None and time.monotonic() >= deadline):
                break
            sent += self._deliver(row_id, deadline)
        self.delivered += sent
        return sent

    def _claim(self, row_id: int, lease: float) -> bool:
        """Take the row for this worker in one UPDATE: on SQLite (one writer at a time) and
        on PostgreSQL (row lock, WHERE re-checked) only one process can win it."""
        now = utcnow()
        with self.store.engine.begin() as conn:
            won = conn.execute(
                update(Delivery)
                .where(Delivery.id == row_id, Delivery.delivered_at.is_(None), Delivery.failed.is_(False))
                .where(or_(Delivery.claimed_by.is_(None), Delivery.claimed_until < now))
                .values(claimed_by=self.worker_id, claimed_until=now + timedelta(seconds=lease))
            ).rowcount
        return won == 1

    def _deliver(self, row_id: int, deadline: float | None = None) -> int:
        # Claimed first (committed), sent with no transaction open, then settled only if the
        # claim is still ours: two watch processes sharing a database never both send a row.
        with Session(self.store.engine) as s:
            row = s.get(Delivery, row_id)
            if row is None or row.delivered_at is not None or row.sink not in self.sinks:
                return 0
            sink = self.sinks[row.sink]
        timeout = float(getattr(sink, "timeout", 5.0))
        if deadline is not None:
            timeout = min(timeout, deadline - time.monotonic())
            if timeout <= 0.05:
                return 0
        # the lease outlasts the request (connect + read) with room to write the outcome
        if not self._claim(row_id, lease=2 * timeout + 10):
            return 0
        with Session(self.store.engine) as s:
            event = s.get(Event, row.event_id)
            payload = event_dict(event)
        error: DeliveryError | None = None
        try:
            if deadline is not None:
                sink.send(payload, timeout=timeout)
            else:
                sink.send(payload)
        except DeliveryError as exc:
            error = exc
        except Exception as exc:  # a sink bug must not leave the row claimed for good
            error = DeliveryError(f"{row.sink}: {exc}")
        with Session(self.store.engine) as s, s.begin():
            row = s.get(Delivery, row_id)
            if row is None or row.claimed_by != self.worker_id:
                log.warning("event %s: %s: claim lost while sending", payload["id"], row.sink if row else "?")
                return 0
            row.attempts += 1
            row.claimed_by = row.claimed_until = None
            if error is None:
                row.delivered_at = utcnow()
                row.last_error = None
                return 1
            row.last_error = str(error)
            if error.permanent:
                row.failed = True
                log.error("event %s: %s refused it for good: %s", row.event_id, row.sink, error)
            else:
                delay = backoff(row.attempts, self.base_delay, self.max_delay)
                row.next_attempt_at = utcnow() + timedelta(seconds=delay)
                log.warning(
                    "event %s: %s failed (try %d), next in %.0f s: %s",
                    row.event_id,
                    row.sink,
                    row.attempts,
                    delay,
                    error,
                )
            return 0

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
        """Stop the thread, waiting at most ``timeout`` s for a request in flight (a row it
        leaves claimed is sent again once the claim lapses)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(max(0.0, timeout))
            self._thread = None
        self._stop = threading.Event()  # a last drain() after stop() still sends
