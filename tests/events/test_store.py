"""The events database on SQLite and PostgreSQL: schema migrations, atomic writes, the
outbox across a webhook outage and a restart, reports."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import cv2
import numpy as np
import pytest
from servers import Receiver
from sqlalchemy import create_engine

from maskwatch.errors import ConfigError
from maskwatch.events.db import migrate, schema_revision
from maskwatch.events.outbox import OutboxWorker, backoff
from maskwatch.events.sinks import WebhookSink
from maskwatch.events.store import EventStore, PersonRecord
from maskwatch.events.watch_report import parse_time, write_report

JPEG = cv2.imencode(".jpg", np.full((40, 40, 3), 128, np.uint8))[1].tobytes()


def person(label: str, minute: int = 0, track: int = 1, camera: str = "door") -> PersonRecord:
    t = datetime(2026, 11, 22, 8, 0) + timedelta(minutes=minute)
    return PersonRecord(
        camera, "run-1", track, label, 0.9, 12, t, t + timedelta(seconds=3), (10, 20, 110, 140), JPEG, JPEG
    )


def test_migrations_match_the_models_and_go_down_and_up(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from maskwatch.events.schema import Base

    store = EventStore(db_url)
    assert schema_revision(store.engine) == "0004"
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diffs == [], f"models and migrations differ: {diffs}"
    migrate(store.engine, "base", downgrade=True)
    assert schema_revision(store.engine) is None
    migrate(store.engine)
    migrate(store.engine)  # at head: a no-op
    assert schema_revision(store.engine) == "0004"
    store.close()


def test_people_events_and_counts(db_url):
    store = EventStore(db_url)
    labels = ["with_mask"] * 5 + ["without_mask"] * 2 + ["mask_incorrect"]
    ids = [store.record(person(lb, minute=i % 3, track=i), ["webhook"]) for i, lb in enumerate(labels)]
    assert sum(i is not None for i in ids) == 3  # only violations are events
    counts = store.counts()
    assert counts["per_label"] == {"with_mask": 5, "without_mask": 2, "mask_incorrect": 1}
    assert counts["compliance"] == 0.625 and counts["violations"] == 3
    assert store.counts(cameras=["elsewhere"])["people"] == 0
    events = store.events(snapshots=True)
    assert len(events) == 3 and all(e.face_jpeg == JPEG for e in events)
    assert store.snapshot(ids[5], "frame") == JPEG
    assert len(store.deliveries()) == 3
    since = datetime(2026, 11, 22, 8, 1)
    assert store.counts(since=since)["people"] == sum(1 for i in range(8) if i % 3 >= 1)
    store.close()


def test_webhook_down_then_up_delivers_each_event_exactly_once_across_a_restart(db_url):
    hook = Receiver(down=True)
    try:
        store = EventStore(db_url)
        sink = WebhookSink(hook.url, timeout=2)
        ids = [store.record(person("without_mask", track=i), [sink.name]) for i in range(5)]
        first = OutboxWorker(store, [sink], base_delay=0.05, max_delay=0.2)
        assert first.drain() == 0 and hook.refused == 5  # down: nothing delivered, all kept
        ids += [store.record(person("mask_incorrect", track=9), [sink.name])]
        store.close()  # the process stops during the outage...

        store = EventStore(db_url)  # ...and a new one starts
        hook.down = False
        second = OutboxWorker(store, [sink], poll=0.05, base_delay=0.05, max_delay=0.2).start()
        deadline = time.monotonic() + 15
        while second.pending() and time.monotonic() < deadline:
            time.sleep(0.05)
        second.stop()
        assert second.pending() == 0
        assert dict(hook.received) == dict.fromkeys(ids, 1)  # none lost, none twice
        rows = store.deliveries()
        assert all(r.delivered_at is not None for r in rows) and max(r.attempts for r in rows) >= 2
        assert OutboxWorker(store, [sink]).drain() == 0  # nothing is sent again
        assert sum(hook.received.values()) == len(ids)
        store.close()
    finally:
        hook.close()


def test_a_refusing_webhook_is_not_retried_for_ever(db_url):
    from maskwatch.errors import DeliveryError

    class Refuses:
        name, durable = "webhook", True

        def send(self, payload):
            raise DeliveryError("HTTP 400", permanent=True)

    store = EventStore(db_url)
    store.record(person("without_mask"), ["webhook"])
    worker = OutboxWorker(store, [Refuses()])
    assert worker.drain() == 0 and worker.pending() == 0
    assert store.deliveries()[0].failed and "400" in store.deliveries()[0].last_error
    assert [backoff(n) for n in (1, 2, 3, 20)] == [1, 2, 4, 300]
    store.close()


def test_report_has_charts_snapshots_and_the_right_figures(db_url, tmp_path):
    store = EventStore(db_url)
    for i, lb in enumerate(["with_mask"] * 6 + ["without_mask"] * 3 + ["mask_incorrect"]):
        store.record(person(lb, minute=i, track=i, camera="door" if i % 2 else "hall"))
    out = tmp_path / "r" / "report.html"
    data = write_report(store, out, since=datetime(2026, 11, 22, 8, 2), cameras=["door", "hall"])
    assert data["total"]["people"] == 8 and data["total"]["violations"] == 4
    assert data["total"]["compliance"] == 0.5
    assert set(data["per_camera"]) == {"door", "hall"}
    assert len(data["series"]) == 8 and data["bucket_minutes"] == 1
    html = out.read_text()
    assert html.count('src="data:image/png;base64,') == 2  # time and camera charts
    assert html.count("data:image/jpeg;base64,") == 2 * 4  # face + frame per violation
    assert (tmp_path / "r" / "report.json").exists()
    store.close()


def test_parse_time():
    now = datetime(2026, 11, 22, 12, 0)
    assert parse_time("2h", now) == datetime(2026, 11, 22, 10, 0)
    assert parse_time("today", now) == datetime(2026, 11, 22)
    assert parse_time("2026-11-22T09:30+01:00", now) == datetime(2026, 11, 22, 8, 30)
    with pytest.raises(ConfigError, match="ISO time"):
        parse_time("yesterday-ish", now)


def test_unreachable_database_is_one_clear_error():
    from maskwatch.errors import StoreError

    with pytest.raises(StoreError, match="cannot open the events database"):
        EventStore("postgresql+psycopg://nobody:x@127.0.0.1:9/none")
    engine = create_engine("sqlite://")
    migrate(engine)
    assert schema_revision(engine) == "0004"


def test_box_text_of_revision_0001_becomes_four_numbers_and_back(db_url):
    from sqlalchemy import text

    engine = EventStore(db_url).engine
    migrate(engine, "base", downgrade=True)
    migrate(engine, "0001")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO people (id, camera, run_id, track_id, label, score, frames, first_seen, last_seen) "
                "VALUES ('p1', 'door', 'r', 1, 'without_mask', 0.9, 5, '2026-11-22 08:00:00', '2026-11-22 08:00:01')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO events (id, person_id, time, camera, track_id, label, score, box) "
                "VALUES ('e1', 'p1', '2026-11-22 08:00:01', 'door', 1, 'without_mask', 0.9, '10.5,20.0,30.25,40.0')"
            )
        )
        conn.execute(  # a row that refers to the event: the migration copies events under it
            text(
                "INSERT INTO outbox (event_id, sink, attempts, next_attempt_at, failed) "
                "VALUES ('e1', 'hook', 0, '2026-11-22 08:00:01', false)"
            )
        )
    migrate(engine)
    assert schema_revision(engine) == "0004"
    ev = EventStore(engine=engine).events()[0]
    assert (ev.x1, ev.y1, ev.x2, ev.y2) == (10.5, 20.0, 30.25, 40.0)
    assert [d.event_id for d in EventStore(engine=engine).deliveries()] == ["e1"]
    migrate(engine, "0001", downgrade=True)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT box FROM events WHERE id = 'e1'")).scalar() == "10.5,20.0,30.2,40.0"
    migrate(engine)
    engine.dispose()
