"""The alert sinks on their own, against the real things: MQTT against Debian's mosquitto on
loopback (with a password, a retained state, discovery, an outage), sound through espeak-ng
to WAV files measured with sox, and the webhook templates on the JSON they produce."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
import uuid

import pytest
from brokers import Broker, Subscriber

from maskwatch.errors import ConfigError, DeliveryError
from maskwatch.events.mqtt import MqttSink
from maskwatch.events.sound import SoundSink
from maskwatch.events.templates import check_template, render


def event(camera="door", label="without_mask", **extra) -> dict:
    eid = str(uuid.uuid4())
    return {
        "id": eid,
        "type": "violation",
        "time": "2026-12-01T08:00:00Z",
        "camera": camera,
        "track_id": 3,
        "label": label,
        "score": 0.91,
        "box": [1.0, 2.0, 30.0, 40.0],
        "person_id": "p",
        "face_url": f"/v1/events/{eid}/face.jpg",
        "frame_url": f"/v1/events/{eid}/frame.jpg",
        **extra,
    }


def wait(predicate, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


# --- MQTT ------------------------------------------------------------------------------------
def test_mqtt_publishes_each_event_once_with_a_password_and_retains_the_state(tmp_path):
    broker = Broker(tmp_path / "broker", user="cam", password="s3cr et")
    sub = Subscriber(broker.port, user="cam", password="s3cr et")
    sink = MqttSink(f"mqtt://cam:s3cr%20et@127.0.0.1:{broker.port}", discovery=True)
    try:
        sent = [event(), event(label="mask_incorrect")]
        for ev in sent:
            sink.send(ev)
        sink.state("door", {"people": 3, "violations": 2, "compliance": 0.3333, "status": "running"})
        assert wait(lambda: len(sub.events()) == 2 and "maskwatch/door/state" in sub.messages)
        assert sub.events() == {ev["id"]: 1 for ev in sent}
        got = json.loads(sub.messages["maskwatch/door/events"][0])
        assert got["label"] == "without_mask" and got["face_url"].endswith("/face.jpg")
        # retained: a subscriber that comes later gets the state and the discovery configs
        late = Subscriber(broker.port, topic="#", user="cam", password="s3cr et", client_id="late")
        assert wait(lambda: "maskwatch/door/state" in late.retained and len(late.retained) >= 6)
        assert json.loads(late.retained["maskwatch/door/state"])["people"] == 3
        assert late.retained["maskwatch/status"] == b"online"
        config = json.loads(late.retained["homeassistant/sensor/maskwatch_door/people/config"])
        assert config["state_topic"] == "maskwatch/door/state" and config["unique_id"] == "maskwatch_door_people"
        late.close()
    finally:
        sink.close()
        sub.close()
        broker.stop()


def test_mqtt_refuses_a_wrong_password_and_a_down_broker_as_retryable_failures(tmp_path):
    broker = Broker(tmp_path / "broker", user="cam", password="right")
    try:
        with pytest.raises(DeliveryError) as bad:
            MqttSink(f"mqtt://cam:wrong@127.0.0.1:{broker.port}", timeout=2).send(event())
        assert not bad.value.permanent
    finally:
        broker.stop()
    with pytest.raises(DeliveryError, match="cannot connect"):
        MqttSink(f"mqtt://127.0.0.1:{broker.port}", timeout=2).send(event())


def test_mqtt_over_tls_delivers_with_the_brokers_ca_and_refuses_an_unverified_broker(tmp_path):
    """``mqtts://`` against mosquitto's TLS listener: with ``ca_certs`` the event arrives; with
    the system's CAs (which never signed this broker) the sink refuses to talk, as a
    retryable delivery failure naming the certificate, not a traceback."""
    broker = Broker(tmp_path / "broker", tls=True)
    sub = Subscriber(broker.port)
    sink = MqttSink(f"mqtts://127.0.0.1:{broker.tls_port}", ca_certs=str(broker.tls["ca"]), timeout=5)
    try:
        sent = event()
        sink.send(sent)
        assert wait(lambda: sub.events() == {sent["id"]: 1})
        with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED") as info:
            MqttSink(f"mqtts://127.0.0.1:{broker.tls_port}", timeout=2).send(event())
        assert not info.value.permanent
        with pytest.raises(DeliveryError):  # TLS to the plain listener: no handshake
            MqttSink(f"mqtts://127.0.0.1:{broker.port}", ca_certs=str(broker.tls["ca"]), timeout=2).send(event())
        assert sub.events() == {sent["id"]: 1}
    finally:
        sink.close()
        sub.close()
        broker.stop()


def test_mqtt_config_errors_are_clear():
    for kwargs, message in [
        ({"url": "http://x"}, "mqtt://host"),
        ({"url": "mqtt://x", "qos": 0}, "qos must be 1 or 2"),
        ({"url": "mqtt://x", "snapshot": "png"}, "snapshot must be one of"),
    ]:
        with pytest.raises(ConfigError, match=message):
            MqttSink(**kwargs)


# --- sound -----------------------------------------------------------------------------------
needs_speech = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("sox") is None,
    reason="needs Debian's espeak-ng and sox (apt-get install espeak-ng sox)",
)


def sox_stat(path) -> dict:
    """sox's own measurement of a WAV: length (s) and RMS amplitude."""
    out = subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, text=True).stderr
    values = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        with contextlib.suppress(ValueError):
            values[key.strip()] = float(value)
    return values


@needs_speech
def test_sound_writes_a_spoken_reminder_and_keeps_its_cooldown(tmp_path):
    sink = SoundSink(say={"mask_incorrect": "Please pull your mask over your nose"}, cooldown=60, wav_dir=tmp_path)
    sink.send(event(label="mask_incorrect"))
    sink.send(event(label="without_mask"))  # same camera, within the cooldown: silent
    sink.send(event(camera="side", label="without_mask"))
    wavs = sorted(tmp_path.glob("*.wav"))
    assert sorted(w.name.split("-")[-2] for w in wavs) == ["mask_incorrect", "without_mask"]
    by_camera = {w.name.split("-")[1]: w for w in wavs}
    assert set(by_camera) == {"door", "side"}
    nose, plain = sox_stat(by_camera["door"]), sox_stat(by_camera["side"])
    assert 1.5 < nose["Length (seconds)"] < 6 and nose["RMS     amplitude"] > 0.01  # speech, not silence
    assert plain["Length (seconds)"] < nose["Length (seconds)"]  # "Please wear a mask." is shorter


@needs_speech
def test_sound_is_silent_in_quiet_hours_and_refuses_bad_settings(tmp_path):
    sink = SoundSink(quiet_hours="00:00-23:59", wav_dir=tmp_path)
    sink.send(event())
    assert not list(tmp_path.glob("*.wav"))
    with pytest.raises(ConfigError, match="quiet_hours"):
        SoundSink(quiet_hours="late")
    with pytest.raises(ConfigError, match="not a file"):
        SoundSink(wav={"without_mask": str(tmp_path / "missing.wav")})


@needs_speech
@pytest.mark.skipif(shutil.which("aplay") is None, reason="needs Debian's alsa-utils (apt-get install alsa-utils)")
def test_sound_plays_through_alsa_and_a_missing_device_fails_in_one_line(tmp_path, monkeypatch):
    """Played, not written to wav_dir: ``aplay`` and ALSA's own library, with an ALSA
    configuration whose device ``speaker`` is alsa-lib's ``file`` plugin (it records what is
    played, the way a sound card would hear it) over the ``null`` device. No sound card is
    needed, and what the speaker got is measured with sox."""
    heard = tmp_path / "heard.wav"
    conf = tmp_path / "asound.conf"
    speaker = f'pcm.speaker {{ type file; slave.pcm "null"; file "{heard}"; format "wav" }}'
    conf.write_text("pcm.null { type null }\n" + speaker + "\n")
    monkeypatch.setenv("ALSA_CONFIG_PATH", str(conf))
    SoundSink(device="speaker").send(event(label="without_mask"))
    played = sox_stat(heard)
    assert 0.8 < played["Length (seconds)"] < 5 and played["RMS     amplitude"] > 0.01  # "Please wear a mask."
    with pytest.raises(DeliveryError, match="aplay failed on ALSA device 'nosuchcard': .*audio open error") as exc:
        SoundSink(device="nosuchcard").send(event(label="without_mask"))
    assert not exc.value.permanent and "\n" not in str(exc.value)


def test_sound_without_espeak_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no espeak-ng, no aplay
    sink = SoundSink()
    assert "apt-get install espeak-ng" in sink.missing()
    with pytest.raises(DeliveryError, match="apt-get install espeak-ng") as exc:
        sink.send(event())
    assert exc.value.permanent


# --- webhook templates ------------------------------------------------------------------------
def test_templates_render_readable_chat_messages_with_the_snapshot_link():
    ev = event(label="mask_incorrect")
    slack = render("slack", ev, "http://maskwatch.local:8000/")
    assert set(slack) == {"text"}
    assert "mask incorrect at door" in slack["text"] and f"http://maskwatch.local:8000{ev['face_url']}" in slack["text"]
    assert set(render("discord", ev, None)) == {"content"} and "http" not in render("discord", ev, None)["content"]
    custom = render("{camera}: {label} {snapshot_url}", ev, "https://h")
    assert custom == {"text": f"door: mask_incorrect https://h{ev['face_url']}"}
    assert render(None, ev) is ev and render("json", ev) is ev
    json.dumps(render("teams", ev, "https://h"))  # serialisable as sent
    with pytest.raises(ConfigError, match="unknown field"):
        check_template("{nobody}")
    with pytest.raises(ConfigError, match="template"):
        check_template("{camera")
