"""Webhook deliveries that must not be marked delivered when nobody received them (file:,
data:, a 302), bad headers refused at start, claims that hold across workers on SQLite, and
a drain that keeps its time bound against a receiver that never answers."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest
from servers import Hanging, Receiver, Redirector

from maskwatch.errors import ConfigError
from maskwatch.events.outbox import OutboxWorker
from maskwatch.events.sinks import WebhookSink, make_sink
from maskwatch.events.store import EventStore, PersonRecord


def person(track: int) -> PersonRecord:
    t = datetime(2026, 11, 22, 8, 0, track)
    return PersonRecord("door", "run-1", track, "without_mask", 0.9, 12, t, t, (10, 20, 110, 140))


@pytest.mark.parametrize("url", ["file:///etc/passwd", "data:,x", "ftp://host/x", "gopher://h/", "http://", "hook"])
def test_only_http_and_https_webhooks_are_accepted(url):
    with pytest.raises(ConfigError, match="webhook url"):
        make_sink({"type": "webhook", "url": url})


@pytest.mark.parametrize(
    "headers, match",
    [
        ({"X-Token": "a\r\nX-Injected: 1"}, "one line"),
        ({"X-Token": 5}, "must be text"),
        ({"Bad Name": "x"}, "not a valid HTTP header name"),
        ({"Content-Type": "text/plain"}, "set by maskwatch"),
        (["X-Token: a"], "mapping"),
    ],
)
def test_webhook_headers_are_validated(headers, match):
    with pytest.raises(ConfigError, match=match):
        make_sink({"type": "webhook", "url": "http://127.0.0.1:9/hook", "headers": headers})
    ok = make_sink({"type": "webhook", "url": "https://example.org/h", "headers": {"Authorization": "Bearer x"}})
    assert ok.headers == {"Authorization": "Bearer x"}


def test_a_302_is_not_followed_and_not_marked_delivered(tmp_path):
    server = Redirector(302)
    store = EventStore(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        sink = WebhookSink(server.url, timeout=3)
        store.record(person(1), [sink.name])
        worker = OutboxWorker(store, [sink])
        assert worker.drain() == 0
        assert server.posts == 1 and server.followed == 0  # the redirect target saw nothing
        [row] = store.deliveries()
        assert row.delivered_at is None and row.failed  # reported, not "sent"
        assert "302" in row.last_error and "/elsewhere" in row.last_error
    finally:
        server.close()
        store.close()


def test_two_workers_on_one_sqlite_file_send_each_event_once(tmp_path):
    """Two outbox workers, each with its own engine (as two processes would have), racing on
    the same due rows of one SQLite file; the receiver is slow, so both see every row due."""
    url = f"sqlite:///{tmp_path / 'w.db'}"
    hook = Receiver(delay=0.05)
    stores = [EventStore(url), EventStore(url)]
    try:
        ids = [stores[0].record(person(i), ["webhook"]) for i in range(20)]
        workers = [OutboxWorker(s, [WebhookSink(hook.url, timeout=5)]) for s in stores]
        threads = [threading.Thread(target=w.drain) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert dict(hook.received) == dict.fromkeys(ids, 1)  # each once, none twice
        assert sum(w.delivered for w in workers) == 20
        assert all(r.delivered_at and r.claimed_by is None for r in stores[0].deliveries())
    finally:
        hook.close()
        for s in stores:
            s.close()


def test_a_drain_with_a_deadline_outlasts_no_hanging_receiver(tmp_path):
    hanging = Hanging()
    store = EventStore(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        sink = WebhookSink(hanging.url, timeout=30)  # the sink's own timeout is long
        for i in range(5):
            store.record(person(i), [sink.name])
        worker = OutboxWorker(store, [sink])
        t0 = time.monotonic()
        assert worker.drain(deadline=t0 + 1.5) == 0
        assert time.monotonic() - t0 < 3.0  # not 5 x 30 s
        assert worker.pending() == 5  # kept for the next start
        rows = store.deliveries()
        assert all(r.claimed_by is None for r in rows) and "timed out" in rows[0].last_error
    finally:
        hanging.close()
        store.close()
