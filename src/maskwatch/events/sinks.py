"""Where violation events go besides the database: a webhook (through the durable outbox)
and the log (at once)."""

from __future__ import annotations

import json
import logging
import math
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from ..errors import ConfigError, DeliveryError
from .templates import check_template, render

log = logging.getLogger("maskwatch.events")


_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # an HTTP header name (RFC 9110 token)
_RESERVED = {"content-type", "content-length", "host", "idempotency-key", "transfer-encoding"}


def check_webhook_url(url) -> str:
    """``url`` if it is an http(s) URL with a host; else ConfigError saying why."""
    if not isinstance(url, str) or not url:
        raise ConfigError(f"sinks: a webhook url must be text, got {url!r}")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise ConfigError(f"sinks: webhook url {url!r}: only http:// and https:// are allowed")
    if not parts.hostname or any(c in url for c in "\r\n\t ") or any(ord(c) < 32 for c in url):
        raise ConfigError(f"sinks: webhook url {url!r} is not a valid URL (a host, no spaces or control characters)")
    return url


def check_headers(headers) -> dict[str, str]:
    """Extra request headers: names are HTTP tokens, values text without CR, LF or NUL."""
    if headers is None:
        return {}
    if not isinstance(headers, dict):
        raise ConfigError(f"sinks: headers must be a mapping of name: value, got {type(headers).__name__}")
    for name, value in headers.items():
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise ConfigError(f"sinks: header name {name!r} is not a valid HTTP header name")
        if name.lower() in _RESERVED:
            raise ConfigError(f"sinks: header {name!r} is set by maskwatch and cannot be overridden")
        if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
            raise ConfigError(f"sinks: header {name!r} must be text on one line (no CR, LF or NUL), got {value!r}")
    return dict(headers)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx is an answer, not a place to go: it surfaces as an HTTPError."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _opener() -> urllib.request.OpenerDirector:
    """http and https only (no file:, data:, ftp:), and no redirects."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        _NoRedirect(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


@dataclass
class WebhookSink:
    """POSTs each event as JSON. The event id travels as ``Idempotency-Key`` too: a receiver
    that keeps it can drop the rare repeat after a crash between its 2xx and our commit.

    Only a 2xx counts as delivered. Redirects are never followed (a 3xx is a failure that is
    reported, with where it pointed); only http and https URLs are accepted."""

    url: str
    name: str = "webhook"
    timeout: float = 5.0
    headers: dict[str, str] = field(default_factory=dict)
    #: a chat tool's format (slack, teams, discord, text) or a format string; None: the event JSON
    template: str | None = None
    #: where ``maskwatch serve`` is reachable, for snapshot links in templates
    public_url: str | None = None
    durable: bool = True  # delivered through the outbox

    def __post_init__(self):
        check_webhook_url(self.url)
        self.headers = check_headers(self.headers)
        check_template(self.template)
        self._opener = _opener()

    def send(self, payload: dict, timeout: float | None = None) -> None:
        """POST ``payload``; ``timeout`` (seconds, per connect and per read) lowers the sink's own."""
        message = render(self.template, payload, self.public_url)
        text = isinstance(message, str)
        body = (message if text else json.dumps(message)).encode()
        headers = {
            "Content-Type": "text/plain; charset=utf-8" if text else "application/json",
            "Idempotency-Key": payload["id"],
            "User-Agent": "maskwatch",
            **self.headers,
        }
        wait = self.timeout if timeout is None else max(0.05, min(self.timeout, timeout))
        req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with self._opener.open(req, timeout=wait) as resp:
                resp.read()
                status = resp.status
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:
                where = exc.headers.get("Location") if exc.headers else None
                raise DeliveryError(
                    f"HTTP {exc.code} from {self.url}: redirects are not followed"
                    + (f" (it points to {where}; put that URL in the config)" if where else ""),
                    permanent=True,
                ) from None
            permanent = 400 <= exc.code < 500 and exc.code not in (408, 425, 429)
            raise DeliveryError(f"HTTP {exc.code} from {self.url}", permanent) from None
        except (urllib.error.URLError, OSError, TimeoutError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(f"{self.url}: {reason}") from None
        if not 200 <= status < 300:
            raise DeliveryError(f"HTTP {status} from {self.url}: not a 2xx")


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
    """A sink from its config mapping; ConfigError (exit 2) for anything that cannot work."""
    if not isinstance(spec, dict):
        raise ConfigError(f"sinks: each sink is a mapping like {{type: webhook, url: ...}}, got {spec!r}")
    kind = spec.get("type")
    if kind == "webhook":
        if not spec.get("url"):
            raise ConfigError("sinks: a webhook sink needs a url")
        try:
            timeout = float(spec.get("timeout", 5.0))
        except (TypeError, ValueError):
            timeout = math.nan
        if not (0 < timeout <= 600):
            raise ConfigError(f"sinks: webhook timeout must be seconds in (0, 600], got {spec.get('timeout')!r}")
        return WebhookSink(
            url=check_webhook_url(spec["url"]),
            name=str(spec.get("name", "webhook")),
            timeout=timeout,
            headers=check_headers(spec.get("headers")),
            template=spec.get("template"),
            public_url=spec.get("public_url"),
        )
    if kind == "log":
        return LogSink(name=str(spec.get("name", "log")))
    if kind in ("mqtt", "sound"):
        return _typed_sink(kind, spec)
    raise ConfigError(f"sinks: unknown sink type {kind!r}; one of webhook, mqtt, sound, log")


def _typed_sink(kind: str, spec: dict):
    """An MQTT or sound sink from its mapping; its own fields, each checked by the sink."""
    import dataclasses

    from .mqtt import MqttSink
    from .sound import SoundSink

    cls = MqttSink if kind == "mqtt" else SoundSink
    known = {f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")} - {"durable", "store"}
    options = {k: v for k, v in spec.items() if k != "type"}
    unknown = set(options) - known
    if unknown:
        raise ConfigError(f"sinks: unknown {kind} sink key(s) {sorted(unknown)}; known: {sorted(known)}")
    if kind == "mqtt" and not options.get("url"):
        raise ConfigError("sinks: an mqtt sink needs a url (mqtt://host:1883)")
    try:
        return cls(**options)
    except TypeError as exc:
        raise ConfigError(f"sinks: {kind} sink: {exc}") from None
