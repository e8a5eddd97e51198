"""Where violation events go besides the database: a webhook (through the durable outbox)
and the log (at once)."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from ..errors import ConfigError, DeliveryError

log = logging.getLogger("maskwatch.events")


@dataclass
class WebhookSink:
    """POSTs each event as JSON. The event id travels as ``Idempotency-Key`` too: a receiver
    that keeps it can drop the rare repeat after a crash between its 2xx and our commit."""

    url: str
    name: str = "webhook"
    timeout: float = 5.0
    headers: dict[str, str] = field(default_factory=dict)
    durable: bool = True  # delivered through the outbox

    def send(self, payload: dict) -> None:
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": payload["id"],
            "User-Agent": "maskwatch",
            **self.headers,
        }
        req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                resp.read()
        except urllib.error.HTTPError as exc:
            permanent = 400 <= exc.code < 500 and exc.code not in (408, 425, 429)
            raise DeliveryError(f"HTTP {exc.code} from {self.url}", permanent) from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(f"{self.url}: {reason}") from None


@dataclass
class LogSink:
    """One log line per event (journald, docker logs, a file): no queue, nothing to retry."""

    name: str = "log"
    level: int = logging.WARNING
    durable: bool = False

    def send(self, payload: dict) -> None:
        log.log(
            self.level,
            "violation camera=%s track=%s label=%s score=%.2f time=%s id=%s",
            payload["camera"],
            payload["track_id"],
            payload["label"],
            payload["score"],
            payload["time"],
            payload["id"],
        )


def make_sink(spec: dict):
    kind = spec.get("type")
    if kind == "webhook":
        if not spec.get("url"):
            raise ConfigError("sinks: a webhook sink needs a url")
        return WebhookSink(
            url=spec["url"],
            name=spec.get("name", "webhook"),
            timeout=float(spec.get("timeout", 5.0)),
            headers=dict(spec.get("headers") or {}),
        )
    if kind == "log":
        return LogSink(name=spec.get("name", "log"))
    raise ConfigError(f"sinks: unknown sink type {kind!r}; one of webhook, log")
