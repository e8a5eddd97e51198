"""Server limits and options, from arguments or environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


@dataclass
class ServeSettings:
    #: largest accepted image upload (bytes); a bigger body is refused with 413 while it streams in
    max_image_bytes: int = int(_env_float("MASKWATCH_MAX_UPLOAD_MB", 20) * 1024 * 1024)
    #: largest accepted video upload (bytes)
    max_video_bytes: int = int(_env_float("MASKWATCH_MAX_VIDEO_MB", 100) * 1024 * 1024)
    #: longest video analysed (seconds of video) and the stride between analysed frames
    max_video_seconds: float = _env_float("MASKWATCH_MAX_VIDEO_SECONDS", 120)
    #: when set, every /v1 route, /metrics and the WebSocket need it (X-API-Key header,
    #: "Authorization: Bearer KEY", or ?api_key= for browsers' WebSockets)
    api_key: str | None = field(default_factory=lambda: os.environ.get("MASKWATCH_API_KEY") or None)
    #: inference threads, and how many requests may wait for one before 503 + Retry-After
    workers: int = 2
    queue: int = 16
    #: CORS is off unless origins are listed
    cors_origins: list[str] = field(default_factory=list)
    #: a server-side camera (index or RTSP/HTTP URL) shown at /v1/stream.mjpg
    source: str | None = None
    model_name: str = "maskwatch"
    #: the events database ``maskwatch watch`` writes (URL); None: the default SQLite file
    #: if it exists. When there is one, the page gets a Watch tab with live counts.
    events_db: str | None = field(default_factory=lambda: os.environ.get("MASKWATCH_DB") or None)
