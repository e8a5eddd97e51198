"""Webhook message templates: chat tools' incoming webhooks (Slack, Microsoft Teams, Discord,
Mattermost, Rocket.Chat) show a readable line with the snapshot link instead of raw JSON.

A template is a name (``slack``, ``teams``, ``discord``, ``text``) or a Python format string
over the event's fields (``"{label} at {camera}, {time}: {snapshot_url}"``). ``snapshot_url``
is the face snapshot on ``maskwatch serve`` when the sink has a ``public_url``."""

from __future__ import annotations

import string

from ..errors import ConfigError

#: One readable line; ``{emoji}`` is a warning sign for a violation and a check for a test.
DEFAULT_LINE = "{emoji} {label_text} at {camera} ({time}, score {score:.2f}){link}"
#: How each chat tool wants its text: the JSON body's key.
BODY_KEY = {"slack": "text", "mattermost": "text", "rocketchat": "text", "teams": "text", "discord": "content"}
NAMED = (*BODY_KEY, "text", "json")


def _fields(payload: dict, public_url: str | None) -> dict:
    base = (public_url or "").rstrip("/")
    snapshot = f"{base}{payload['face_url']}" if base and payload.get("face_url") else ""
    return {
        **payload,
        "label_text": payload.get("label", "").replace("_", " "),
        "emoji": "✅ (test)" if payload.get("test") else "⚠️",
        "snapshot_url": snapshot,
        "frame_url_full": f"{base}{payload['frame_url']}" if base and payload.get("frame_url") else "",
        "link": f": {snapshot}" if snapshot else "",
    }


def check_template(template: str | None) -> None:
    """A template that cannot render is a config error at start, not a failed delivery later."""
    if template is None or template in NAMED:
        return
    try:
        names = {f for _, f, _, _ in string.Formatter().parse(template) if f}
    except ValueError as exc:
        raise ConfigError(f"sinks: webhook template {template!r}: {exc}") from None
    sample = _fields(
        {"id": "x", "time": "t", "camera": "c", "label": "without_mask", "score": 0.5, "face_url": "/f"}, "http://h"
    )
    unknown = (
        {n.split(".")[0].split("[")[0] for n in names}
        - set(sample)
        - {
            "track_id",
            "box",
            "person_id",
            "type",
            "frame_url",
        }
    )
    if unknown:
        raise ConfigError(f"sinks: webhook template uses unknown field(s) {sorted(unknown)}")


def render(template: str | None, payload: dict, public_url: str | None = None) -> dict | str:
    """The request body for ``payload``: the event itself (no template or ``json``), plain
    text (``text``), a chat tool's JSON, or a format string's text as ``{"text": ...}``."""
    if template in (None, "json"):
        return payload
    fields = _fields(payload, public_url)
    if template == "text":
        return DEFAULT_LINE.format(**fields)
    if template in BODY_KEY:
        return {BODY_KEY[template]: DEFAULT_LINE.format(**fields)}
    return {"text": template.format(**fields)}
