"""The MQTT sink: one message per violation on ``<topic>/<camera>/events``, a retained
per-camera state on ``<topic>/<camera>/state``, and Home Assistant discovery on request.

Building gateways, Frigate-style dashboards, Home Assistant and Node-RED already listen on
MQTT, so a violation there needs no glue. Violations go through the same durable outbox as
webhooks: :meth:`MqttSink.send` returns only once the broker acknowledged the message (QoS 1
PUBACK), so an event is published until it is acknowledged and never after. While the broker
is down the outbox keeps the events and retries with backoff. A message carries the event id,
so a consumer can drop the rare repeat of QoS 1 (a PUBACK lost with the broker).

The state is best effort and retained: the latest counts, compliance and camera status are
there for anyone who subscribes later. The connection's last will marks the whole process
offline on ``<topic>/status`` if it dies without saying goodbye.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from ..errors import ConfigError, DeliveryError

log = logging.getLogger("maskwatch.events")

#: What a violation message carries of its snapshot: its URL on ``maskwatch serve`` (default),
#: the face JPEG as base64 in the message, or the JPEG bytes on ``<topic>/<camera>/snapshot``.
SNAPSHOT_MODES = ("url", "base64", "topic")


def _require_paho():
    from ..errors import require

    return require("paho.mqtt.client", "the mqtt sink", "mqtt")


@dataclass
class MqttSink:
    """Publishes violation events to an MQTT broker.

    Args:
        url: ``mqtt://[user:password@]host[:1883]`` or ``mqtts://`` (TLS, port 8883).
        topic: the topic prefix (``maskwatch``).
        qos: 1 (at least once, acknowledged) or 2; 0 is refused: it cannot be acknowledged.
        snapshot: ``url``, ``base64`` or ``topic`` (see :data:`SNAPSHOT_MODES`).
        ca_certs: a CA bundle for TLS (default: the system's).
        discovery: publish Home Assistant MQTT discovery configs for each camera's sensors.
        timeout: seconds to wait for the broker's acknowledgement.
    """

    url: str
    name: str = "mqtt"
    topic: str = "maskwatch"
    qos: int = 1
    snapshot: str = "url"
    ca_certs: str | None = None
    discovery: bool = False
    discovery_prefix: str = "homeassistant"
    timeout: float = 10.0
    durable: bool = True  # delivered through the outbox
    store: object = None  # the EventStore, for snapshots (set by the outbox)
    _client: object = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _announced: set = field(default_factory=set, repr=False)
    _states: dict = field(default_factory=dict, repr=False)
    _state_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _publisher: object = field(default=None, repr=False)
    _closing: threading.Event = field(default_factory=threading.Event, repr=False)

    def __post_init__(self):
        parts = urlsplit(self.url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ConfigError(f"sinks: mqtt url must be mqtt://host[:port] or mqtts://host[:port], not {self.url!r}")
        if self.qos not in (1, 2):
            raise ConfigError("sinks: mqtt qos must be 1 or 2 (0 cannot be acknowledged)")
        if self.snapshot not in SNAPSHOT_MODES:
            raise ConfigError(f"sinks: mqtt snapshot must be one of {', '.join(SNAPSHOT_MODES)}")
        self.topic = self.topic.strip("/") or "maskwatch"
        self._tls = parts.scheme == "mqtts"
        self._host, self._port = parts.hostname, parts.port or (8883 if self._tls else 1883)
        self._user = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None

    # -- the connection ------------------------------------------------------------------
    def _connect(self):
        mqtt = _require_paho()
        client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"maskwatch-{uuid.uuid4().hex[:12]}",
        )
        if self._user:
            client.username_pw_set(self._user, self._password)
        if self._tls:
            client.tls_set(ca_certs=self.ca_certs)
        client.will_set(f"{self.topic}/status", "offline", qos=1, retain=True)
        client.reconnect_delay_set(1, 30)
        try:
            client.connect(self._host, self._port, keepalive=30)
        except (OSError, ValueError) as exc:
            raise DeliveryError(f"mqtt {self._host}:{self._port}: cannot connect ({exc})") from None
        client.loop_start()
        deadline = time.monotonic() + self.timeout
        while not client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not client.is_connected():
            client.loop_stop()
            raise DeliveryError(f"mqtt {self._host}:{self._port}: no CONNACK within {self.timeout:.0f} s")
        client.publish(f"{self.topic}/status", "online", qos=1, retain=True)
        return client

    def _reset(self) -> None:
        """Drop the connection and whatever paho still queues on it: a message that was not
        acknowledged is the outbox's to send again, not paho's (that would send it twice)."""
        client, self._client = self._client, None
        if client is not None:
            try:
                client.disconnect()
                client.loop_stop()
            except Exception:  # already gone
                pass

    def _publish(self, topic: str, payload, retain: bool = False) -> None:
        with self._lock:
            if self._client is None or not self._client.is_connected():
                self._reset()
                self._client = self._connect()
            info = self._client.publish(topic, payload, qos=self.qos, retain=retain)
            try:
                info.wait_for_publish(self.timeout)
            except (RuntimeError, ValueError) as exc:  # not queued: the connection is gone
                self._reset()
                raise DeliveryError(f"mqtt {self._host}:{self._port}: {exc}") from None
            if not info.is_published():
                self._reset()
                raise DeliveryError(f"mqtt {self._host}:{self._port}: no acknowledgement within {self.timeout:.0f} s")

    # -- the sink ------------------------------------------------------------------------
    def send(self, payload: dict, timeout: float | None = None) -> None:
        """Publish one violation; returns once the broker acknowledged it (within
        ``timeout`` seconds, default the sink's own)."""
        if timeout is not None:
            self.timeout = max(0.5, min(self.timeout, timeout))
        camera = payload["camera"]
        message = dict(payload)
        if self.snapshot != "url":
            face = self.store.snapshot(payload["id"], "face") if self.store is not None else None
            if face and self.snapshot == "base64":
                message["face_jpeg_base64"] = base64.b64encode(face).decode()
            elif face:
                self._publish(f"{self.topic}/{camera}/snapshot", face)
        if self.discovery:
            self.announce(camera)
        self._publish(f"{self.topic}/{camera}/events", json.dumps(message))

    def state(self, camera: str, state: dict) -> None:
        """The camera's latest counts, compliance and status, retained. It never blocks the
        camera: a background thread publishes the newest state of each camera about once a
        second (best effort: while the broker is down only the latest one waits)."""
        with self._state_lock:
            self._states[camera] = state
            if self._publisher is None:
                self._publisher = threading.Thread(target=self._publish_states, name="mqtt-state", daemon=True)
                self._publisher.start()

    def _publish_states(self) -> None:
        while not self._closing.is_set():
            with self._state_lock:
                waiting, self._states = self._states, {}
            for camera, state in waiting.items():
                try:
                    if self.discovery:
                        self.announce(camera)
                    self._publish(f"{self.topic}/{camera}/state", json.dumps(state), retain=True)
                except DeliveryError as exc:
                    log.debug("mqtt state for %s not published yet: %s", camera, exc)
                    with self._state_lock:
                        self._states.setdefault(camera, state)
            self._closing.wait(1.0)

    def flush_states(self, timeout: float = 5.0) -> None:
        """Wait until every state handed to :meth:`state` is published (or ``timeout``)."""
        deadline = time.monotonic() + timeout
        while self._states and time.monotonic() < deadline:
            time.sleep(0.05)

    def announce(self, camera: str) -> None:
        """Home Assistant MQTT discovery: people, violations, compliance and the last
        violation's label appear as sensors of one device per camera, unconfigured."""
        if camera in self._announced:
            return
        device = {"identifiers": [f"maskwatch_{camera}"], "name": f"maskwatch {camera}", "manufacturer": "maskwatch"}
        sensors = {
            "people": ("{{ value_json.people }}", self._state_topic(camera), "people"),
            "violations": ("{{ value_json.violations }}", self._state_topic(camera), "people"),
            "compliance": ("{{ (value_json.compliance or 0) * 100 | round(1) }}", self._state_topic(camera), "%"),
            "last_violation": ("{{ value_json.label }}", f"{self.topic}/{camera}/events", None),
        }
        for key, (template, state_topic, unit) in sensors.items():
            config = {
                "name": key.replace("_", " "),
                "unique_id": f"maskwatch_{camera}_{key}",
                "state_topic": state_topic,
                "value_template": template,
                "availability_topic": f"{self.topic}/status",
                "device": device,
            }
            if unit:
                config["unit_of_measurement"] = unit
            topic = f"{self.discovery_prefix}/sensor/maskwatch_{camera}/{key}/config"
            self._publish(topic, json.dumps(config), retain=True)
        self._announced.add(camera)

    def _state_topic(self, camera: str) -> str:
        return f"{self.topic}/{camera}/state"

    def close(self) -> None:
        """Publish the last states, then say goodbye: the process is offline on purpose (the
        last will is for crashes)."""
        self.flush_states(timeout=min(self.timeout, 5.0))
        self._closing.set()
        if self._publisher is not None:
            self._publisher.join(5)
        with self._lock:
            if self._client is not None and self._client.is_connected():
                self._client.publish(f"{self.topic}/status", "offline", qos=1, retain=True).wait_for_publish(2)
            self._reset()
