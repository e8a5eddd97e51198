"""The outbox rules, once per sink (webhook, MQTT, sound): nothing is delivered while the
sink is down, it is retried with backoff, each event arrives exactly once after it is
acknowledged and never again, and a permanent error gives up. Then ``watch`` end to end with
MQTT (a real mosquitto stopped mid-run and started again) and spoken reminders to WAV files,
and the Watch page's sink states and test alert."""

from __future__ import annotations

import base64
import json
import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from brokers import Broker, Subscriber
from servers import Receiver
from test_alert_sinks import needs_speech, sox_stat, wait

from maskwatch.errors import DeliveryError
from maskwatch.events.mqtt import MqttSink
from maskwatch.events.outbox import OutboxWorker
from maskwatch.events.sinks import WebhookSink, make_sink
from maskwatch.events.sound import SoundSink
from maskwatch.events.store import EventStore, PersonRecord
from maskwatch.pipelines.watch import run_watch
from maskwatch.settings import WatchSettings


def violation(track: int) -> PersonRecord:
    t = datetime(2026, 12, 1, 8, 0) + timedelta(minutes=track)
    return PersonRecord("door", "run", track, "without_mask", 0.9, 10, t, t, (1, 2, 30, 40), b"\xff\xd8", b"\xff\xd8")


class _Webhook:
    def __init__(self, tmp_path):
        self.receiver = Receiver(down=True)
        self.sink = WebhookSink(self.receiver.url, name="hook", timeout=2)

    def up(self):
        self.receiver.down = False

    def received(self):
        return dict(self.receiver.received)

    def close(self):
        self.receiver.close()


class _Mqtt:
    def __init__(self, tmp_path):
        self.broker = Broker(tmp_path / "broker")
        self.sub = Subscriber(self.broker.port)
        self.broker.stop()
        self.sink = MqttSink(f"mqtt://127.0.0.1:{self.broker.port}", name="bus", timeout=2)

    def up(self):
        self.broker.start()
        wait(lambda: self.sub.client.is_connected(), 10)

    def received(self):
        return dict(self.sub.events())

    def close(self):
        self.sink.close()
        self.sub.close()
        self.broker.stop()


class _Sound:
    """Down: its WAV folder is a file (a full or missing disk), so writing fails."""

    def __init__(self, tmp_path):
        if shutil.which("espeak-ng") is None:
            pytest.skip("needs Debian's espeak-ng (apt-get install espeak-ng)")
        self.folder = tmp_path / "wavs"
        self.sink = SoundSink(wav_dir=str(self.folder), cooldown=0, name="door-speaker")
        shutil.rmtree(self.folder)
        self.folder.write_text("not a folder")

    def up(self):
        self.folder.unlink()
        self.folder.mkdir()

    def received(self):
        return {p.stem.rsplit("-", 1)[-1]: 1 for p in self.folder.glob("*.wav")}  # the event id's first 8 chars

    def close(self):
        pass


@pytest.mark.parametrize("kind", [_Webhook, _Mqtt, _Sound], ids=["webhook", "mqtt", "sound"])
def test_outbox_rules_hold_for_every_sink(kind, tmp_path):
    target = kind(tmp_path)
    store = EventStore(f"sqlite:///{tmp_path / 'events.db'}")
    try:
        ids = [store.record(violation(track), [target.sink.name]) for track in (1, 2)]
        outbox = OutboxWorker(store, [target.sink], base_delay=0.2, max_delay=0.5)
        assert outbox.drain() == 0  # down: nothing delivered...
        rows = store.deliveries()
        assert all(r.attempts == 1 and not r.failed and r.delivered_at is None for r in rows)
        assert all(r.next_attempt_at > datetime.utcnow() - timedelta(seconds=1) for r in rows)  # ...retried later
        assert outbox.drain() == 0  # not due yet: backoff
        target.up()
        deadline = time.monotonic() + 20
        while outbox.pending() and time.monotonic() < deadline:
            outbox.drain()
            time.sleep(0.1)
        assert outbox.pending() == 0
        got = target.received()
        expected = {i: 1 for i in ids} if kind is not _Sound else {i[:8]: 1 for i in ids}
        assert wait(lambda: target.received() == expected, 10), got
        assert outbox.drain() == 0 and target.received() == expected  # acknowledged: never again
    finally:
        target.close()
        store.close()


def test_a_permanent_error_gives_up_for_every_sink_kind(tmp_path, monkeypatch):
    store = EventStore(f"sqlite:///{tmp_path / 'events.db'}")
    monkeypatch.setenv("PATH", str(tmp_path))  # no espeak-ng: the sound sink cannot ever speak
    sound = SoundSink(wav_dir=str(tmp_path / "w"), name="speaker")

    class Gone:  # a 4xx-like answer from the broker side: not retried
        name, durable, timeout = "bus", True, 1.0

        def send(self, payload, timeout=None):
            raise DeliveryError("mqtt: not authorised", permanent=True)

    try:
        event_id = store.record(violation(1), ["speaker", "bus"])
        OutboxWorker(store, [sound, Gone()]).drain()
        rows = {r.sink: r for r in store.deliveries(event_id)}
        assert rows["speaker"].failed and "apt-get install espeak-ng" in rows["speaker"].last_error
        assert rows["bus"].failed and rows["speaker"].attempts == rows["bus"].attempts == 1
        assert OutboxWorker(store, [sound, Gone()]).drain() == 0
        assert all(r.attempts == 1 for r in store.deliveries(event_id))  # given up: not tried again
    finally:
        store.close()


def test_watch_publishes_to_mqtt_through_a_broker_outage_exactly_once(walkby, detector, tmp_path):
    broker = Broker(tmp_path / "broker", user="mw", password="pw")
    sub = Subscriber(broker.port, user="mw", password="pw")
    store = EventStore(f"sqlite:///{tmp_path / 'events.db'}")
    url = f"mqtt://mw:pw@127.0.0.1:{broker.port}"
    sinks = [{"type": "mqtt", "url": url, "timeout": 2, "snapshot": "base64"}]
    try:
        # a first pass with the broker up: its events, and the retained camera state
        first = WatchSettings.resolve({"cameras": [{"name": "door", "source": walkby["video"]}], "sinks": sinks})
        result = run_watch(first, detector, store, install_signals=False)
        assert result.pending == 0
        assert wait(lambda: len(sub.events()) == 4, 10)
        message = json.loads(sub.messages["maskwatch/door/events"][0])
        assert base64.b64decode(message["face_jpeg_base64"])[:2] == b"\xff\xd8"  # the face snapshot, inline
        # a second pass: the broker dies as it starts; events wait in the outbox
        second = WatchSettings.resolve({"cameras": [{"name": "door", "source": walkby["video"]}], "sinks": sinks})
        result = run_watch(
            second, detector, store, install_signals=False, on_start=lambda _: broker.stop(), drain_seconds=1
        )
        assert result.pending == 4
        broker.start()
        second_sink = make_sink(sinks[0])
        outbox = OutboxWorker(store, [second_sink], base_delay=0.2, max_delay=1)
        deadline = time.monotonic() + 30
        while outbox.pending() and time.monotonic() < deadline:
            outbox.drain()
            time.sleep(0.2)
        second_sink.close()
        all_ids = [e.id for e in store.events(limit=100)]
        assert len(all_ids) == 8
        assert wait(lambda: sub.events() == dict.fromkeys(all_ids, 1), 15), sub.events()
        late = Subscriber(broker.port, topic="maskwatch/door/state", user="mw", password="pw", client_id="late")
        assert wait(lambda: "maskwatch/door/state" in late.retained, 10)
        late.close()
    finally:
        sub.close()
        broker.stop()
        store.close()


@needs_speech
def test_watch_says_each_violation_to_wav_files(walkby, detector, tmp_path):
    wavs = tmp_path / "alerts"
    cfg = WatchSettings.resolve(
        {
            "cameras": [{"name": "door", "source": walkby["video"]}],
            "sinks": [
                {
                    "type": "sound",
                    "wav_dir": str(wavs),
                    "cooldown": 0,
                    "say": {"mask_incorrect": "Please pull your mask over your nose"},
                }
            ],
        }
    )
    store = EventStore(f"sqlite:///{tmp_path / 'events.db'}")
    result = run_watch(cfg, detector, store, install_signals=False)
    assert result.pending == 0
    files = sorted(wavs.glob("*.wav"))
    labels = sorted(p.stem.split("-")[-2] for p in files)
    assert labels == ["mask_incorrect", "mask_incorrect", "without_mask", "without_mask"]
    for path in files:
        stat = sox_stat(path)
        assert stat["Length (seconds)"] > 1.0 and stat["RMS     amplitude"] > 0.01
    store.close()


def test_watch_page_shows_sink_states_and_sends_a_test_alert(tmp_path, detector):
    from fastapi.testclient import TestClient

    from maskwatch.serve.app import create_app
    from maskwatch.settings import ServeSettings

    url = f"sqlite:///{tmp_path / 'events.db'}"
    store = EventStore(url)
    hook = Receiver()
    sink = WebhookSink(hook.url, name="hook")
    try:
        store.register_sinks([sink])
        store.record(violation(1), ["hook"])
        client = TestClient(create_app(detector, ServeSettings(database=url, api_key="k")))
        assert client.post("/v1/watch/test-alert").status_code == 401
        answer = client.post("/v1/watch/test-alert", headers={"X-API-Key": "k"}).json()
        assert answer["sinks"] == ["hook"] and "hook" in answer["message"]
        states = client.get("/v1/watch/sinks", headers={"X-API-Key": "k"}).json()
        assert {(s["sink"], s["camera"], s["pending"]) for s in states} == {
            ("hook", "door", 1),
            ("hook", "test-alert", 1),
        }
        OutboxWorker(store, [sink]).drain()
        # since the violation's fixed day: "today" (the default) would depend on the clock
        summary = client.get("/v1/watch/summary?since=2026-12-01T00:00", headers={"X-API-Key": "k"}).json()
        assert summary["total"]["people"] == 1  # the test alert is never counted
        assert {s["camera"]: s["pending"] for s in summary["sinks"]} == {"door": 0, "test-alert": 0}
        assert all(s["last_delivery"] for s in summary["sinks"])
        assert sum(hook.received.values()) == 2
        tested = [e for e in store.deliveries() if e.event_id == answer["event_id"]]
        assert tested and tested[0].delivered_at is not None
    finally:
        hook.close()
        store.close()


def test_cli_flags_add_the_mqtt_and_sound_sinks(tmp_path):
    from maskwatch.pipelines.watch import watch_settings

    settings = watch_settings(["x.mp4"], mqtt="mqtt://127.0.0.1:1883", say_dir=str(tmp_path / "w"))
    assert [s["type"] for s in settings.sinks] == ["mqtt", "sound"]
    assert Path(tmp_path / "w").is_dir()
