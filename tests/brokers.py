"""A real MQTT broker for the tests: Debian's mosquitto on 127.0.0.1, with persistence so a
subscriber's session survives a restart, and a subscriber that records what arrives."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_tls_files(folder: Path) -> dict[str, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it (openssl): ``ca``, ``cert``,
    ``key``. A client that trusts ``ca`` can verify the broker; one with the system's CAs
    cannot."""
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl (apt-get install openssl)")
    ca, ca_key, cert, key, csr = (folder / n for n in ("ca.pem", "ca.key", "server.pem", "server.key", "server.csr"))
    ext = folder / "san.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=maskwatch test CA",
        "-keyout", str(ca_key), "-out", str(ca))  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(csr))
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial", "-days", "2",
        "-extfile", str(ext), "-out", str(cert))  # fmt: skip
    return {"ca": ca, "cert": cert, "key": key}


class Broker:
    """``mosquitto`` on a free loopback port; ``stop()`` and ``start()`` for outages. With
    ``tls``, a second listener on ``tls_port`` speaks TLS with a certificate signed by the CA
    in ``tls["ca"]`` (the plain one stays, for the test's subscriber)."""

    def __init__(self, folder: Path, user: str | None = None, password: str | None = None, tls: bool = False):
        if shutil.which("mosquitto") is None:
            pytest.skip("needs Debian's mosquitto (apt-get install mosquitto)")
        self.port = free_port()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        lines = [
            f"listener {self.port} 127.0.0.1",
            "persistence true",
            f"persistence_location {folder}/",
            "autosave_interval 1",
        ]
        if os.geteuid() == 0:  # as root it would switch to user mosquitto, who cannot write here
            lines.append("user root")
        if user:
            pwfile = folder / "passwords"
            pwfile.write_text("")
            subprocess.run(["mosquitto_passwd", "-b", str(pwfile), user, password], check=True, capture_output=True)
            pwfile.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {pwfile}"]
        else:
            lines.append("allow_anonymous true")
        self.tls_port, self.tls = 0, {}
        if tls:
            self.tls, self.tls_port = make_tls_files(folder), free_port()
            lines += [
                f"listener {self.tls_port} 127.0.0.1",
                f"cafile {self.tls['ca']}",
                f"certfile {self.tls['cert']}",
                f"keyfile {self.tls['key']}",
            ]
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["mosquitto", "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        for port in filter(None, (self.port, self.tls_port)):
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("mosquitto did not start") from None
                    time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: it saves its persistence file
            self.proc.wait(10)
        self.proc = None


class Subscriber:
    """A persistent-session QoS 1 subscriber: what arrives while the broker restarts is kept
    by the broker for it. ``messages`` maps topic -> list of payloads."""

    def __init__(self, port: int, topic: str = "maskwatch/#", user=None, password=None, client_id="maskwatch-test-sub"):
        import paho.mqtt.client as mqtt

        self.messages: dict[str, list] = {}
        self.retained: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False
        )
        if user:
            self.client.username_pw_set(user, password)
        self.client.reconnect_delay_set(0.2, 1)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        deadline = time.monotonic() + 5
        while not self.client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.02)

    def _on_message(self, client, userdata, msg) -> None:
        with self._lock:
            if msg.retain:
                self.retained[msg.topic] = msg.payload
            self.messages.setdefault(msg.topic, []).append(msg.payload)

    def events(self) -> Counter:
        """How many times each event id arrived, over every ``.../events`` topic."""
        with self._lock:
            return Counter(
                json.loads(p)["id"] for topic, ps in self.messages.items() if topic.endswith("/events") for p in ps
            )

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
