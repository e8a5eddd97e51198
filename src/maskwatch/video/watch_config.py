"""``maskwatch watch`` configuration: a YAML file, or just sources on the command line.

database: sqlite:///maskwatch-data/maskwatch.db   # or postgresql+psycopg://user:pw@host/db
profile: balanced
min_score: 0.3
counting: {min_frames: 5, decide_after: 5.0, lost_seconds: 1.0}
cameras:
  - name: entrance
    source: rtsp://10.0.0.5/stream1     # file, webcam index, rtsp/http URL
    max_fps: 10                         # analyse at most this many frames a second
    zone: [[100, 50], [540, 50], [540, 470], [100, 470]]
    line: {start: [0, 300], end: [640, 300], direction: in}
sinks:
  - {type: webhook, url: "https://alerts.example.com/maskwatch", timeout: 5}
  - {type: log}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..errors import SourceError

_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


@dataclass
class CameraConfig:
    name: str
    source: str
    max_fps: float | None = None
    zone: list[list[float]] | None = None
    line: dict | None = None
    loop: bool = False  # a file played again and again (demos, soak tests)
    reconnect_timeout: float | None = None  # None: a live camera is retried for ever


@dataclass
class CountingConfig:
    min_frames: int = 5
    decide_after: float = 5.0
    lost_seconds: float = 1.0


@dataclass
class WatchConfig:
    cameras: list[CameraConfig]
    database: str | None = None
    data_dir: str | None = None
    profile: str = "balanced"
    model: str | None = None
    min_score: float = 0.3
    counting: CountingConfig = field(default_factory=CountingConfig)
    sinks: list[dict] = field(default_factory=list)
    snapshot_quality: int = 85


def _camera_name(source: str, used: set[str]) -> str:
    if source.isdigit():
        base = f"webcam{source}"
    elif "://" in source:  # rtsp://10.0.0.5/stream1 -> 10.0.0.5-stream1
        base = re.sub(r"[^A-Za-z0-9_.-]+", "-", source.split("://", 1)[1])[:60]
    else:
        base = Path(source).stem
    base = re.sub(r"[^A-Za-z0-9_.:-]+", "-", base) or "camera"
    name, n = base, 2
    while name in used:
        name, n = f"{base}-{n}", n + 1
    return name


def _point_list(value, what: str, camera: str) -> list[list[float]]:
    try:
        points = [[float(x), float(y)] for x, y in value]
    except (TypeError, ValueError):
        raise SourceError(f"camera {camera}: {what} must be a list of [x, y] points") from None
    return points


def parse_config(raw: dict, base: Path | None = None) -> WatchConfig:
    if not isinstance(raw, dict) or not raw.get("cameras"):
        raise SourceError("config: needs a 'cameras' list (each with a 'source')")
    known = set(WatchConfig.__dataclass_fields__)
    unknown = set(raw) - known
    if unknown:
        raise SourceError(f"config: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
    cameras, used = [], set()
    for i, cam in enumerate(raw["cameras"]):
        if isinstance(cam, str):
            cam = {"source": cam}
        if not isinstance(cam, dict) or "source" not in cam:
            raise SourceError(f"config: camera #{i + 1} needs a 'source'")
        source = str(cam["source"])
        if base is not None and "://" not in source and not source.isdigit() and not Path(source).is_absolute():
            candidate = base / source
            source = str(candidate) if candidate.exists() else source
        name = str(cam.get("name") or _camera_name(source, used))
        if not _NAME.match(name) or name in used:
            raise SourceError(f"config: camera name {name!r} must be unique, 1-100 of A-Z a-z 0-9 _ . : -")
        used.add(name)
        zone = _point_list(cam["zone"], "zone", name) if cam.get("zone") else None
        if zone is not None and len(zone) < 3:
            raise SourceError(f"camera {name}: a zone needs at least 3 points")
        line = cam.get("line")
        if line is not None:
            if not isinstance(line, dict) or "start" not in line or "end" not in line:
                raise SourceError(f"camera {name}: line needs start: [x, y] and end: [x, y]")
            pts = _point_list([line["start"], line["end"]], "line", name)
            line = {"start": pts[0], "end": pts[1], "direction": line.get("direction", "any")}
            if line["direction"] not in ("in", "out", "any"):
                raise SourceError(f"camera {name}: line direction must be in, out or any")
        cameras.append(
            CameraConfig(
                name=name,
                source=source,
                max_fps=float(cam["max_fps"]) if cam.get("max_fps") else None,
                zone=zone,
                line=line,
                loop=bool(cam.get("loop", False)),
                reconnect_timeout=float(cam["reconnect_timeout"]) if cam.get("reconnect_timeout") else None,
            )
        )
    counting = raw.get("counting") or {}
    bad = set(counting) - set(CountingConfig.__dataclass_fields__)
    if bad:
        raise SourceError(f"config: unknown counting key(s) {sorted(bad)}")
    return WatchConfig(
        cameras=cameras,
        database=raw.get("database"),
        data_dir=raw.get("data_dir"),
        profile=raw.get("profile", "balanced"),
        model=raw.get("model"),
        min_score=float(raw.get("min_score", 0.3)),
        counting=CountingConfig(**counting),
        sinks=list(raw.get("sinks") or []),
        snapshot_quality=int(raw.get("snapshot_quality", 85)),
    )


def load_config(path: str | Path) -> WatchConfig:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise SourceError(f"{path}: not valid YAML ({exc})") from None
    return parse_config(raw, path.parent)


def config_from_sources(sources: list[str]) -> WatchConfig:
    return parse_config({"cameras": [{"source": s} for s in sources]})
