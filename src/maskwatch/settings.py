"""Every setting maskwatch has, its one name and its one default, for each command family.

A setting is resolved once, when a command starts (never when a module is imported), in this
order: the command-line flag, then the environment variable ``MASKWATCH_<NAME>`` (nested
ones with ``__``: ``MASKWATCH_COUNTING__MIN_FRAMES``), then the config file (``watch``'s
site YAML, or ``--config`` for the others), then the default written here. The flag is
``--name-with-dashes``, the YAML key and the attribute ``name_with_underscores``.

A value that does not fit raises :class:`~maskwatch.errors.ConfigError` naming the setting,
where it came from and why, before anything runs.
"""

from __future__ import annotations

import contextvars
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .defaults import (
    DATABASE_FILE,
    DEFAULT_DATA_DIR,
    DEFAULT_PROFILE,
    EVALUATION_MIN_SCORE,
    EVALUATION_PROFILE,
    FILE_WORKERS,
    MAX_IMAGE_BYTES,
    MAX_PIXELS,
    OUTPUT_MIN_SCORE,
)
from .errors import ConfigError
from .yaml_files import read_yaml_mapping

Profile = Literal["fast", "balanced", "accurate"]

_FILE: contextvars.ContextVar[dict | None] = contextvars.ContextVar("maskwatch_settings_file", default=None)


class _FileSource(PydanticBaseSettingsSource):
    """The config file's values, below flags and the environment."""

    def get_field_value(self, field, field_name):  # pragma: no cover - __call__ does the work
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_FILE.get() or {})


class Settings(BaseSettings):
    """Base of every command family's settings: the resolution order and the error map."""

    model_config = SettingsConfigDict(
        env_prefix="MASKWATCH_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        return (init_settings, env_settings, _FileSource(settings_cls))

    @classmethod
    def resolve(cls, config: dict | str | Path | None = None, **flags):
        """Settings from ``flags`` (None means "not given"), the environment, ``config`` (a
        dict or a YAML file) and the defaults, in that order.

        Raises:
            ConfigError: a value that does not fit, or a config key no setting has.
        """
        base = None
        if isinstance(config, (str, Path)):
            base = Path(config).parent
            config = read_yaml_mapping(config)
        given = {k: v for k, v in flags.items() if v is not None and v != [] and v != ()}
        token = _FILE.set(dict(config or {}))
        try:
            settings = cls(**given)
        except ValidationError as exc:
            raise ConfigError(_describe(exc, config_name(config, base))) from None
        finally:
            _FILE.reset(token)
        if base is not None:
            settings._relative_to(base)
        return settings

    def _relative_to(self, base: Path) -> None:
        """Paths in a config file are read relative to the file."""


def config_name(config, base) -> str:
    return "settings" if base is None else "config"


def _describe(exc: ValidationError, where: str) -> str:
    errors = exc.errors()
    unknown = [".".join(str(p) for p in e["loc"]) for e in errors if e["type"] == "extra_forbidden"]
    if unknown:
        return f"{where}: unknown key(s) {sorted(unknown)}"
    lines = []
    for err in errors[:3]:
        name = ".".join(str(p) for p in err["loc"]) or "settings"
        value = err.get("input")
        shown = "" if isinstance(value, (dict, list)) or value is None else f" (got {str(value)[:60]!r})"
        message = err["msg"].removeprefix("Value error, ")
        lines.append(f"{name}: {message}{shown}")
    more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
    return f"{where}: " + "; ".join(lines) + more


# --- the model every command loads ----------------------------------------------------------
class ModelSettings(Settings):
    #: classifier ONNX made by ``maskwatch export``; None: the shipped model
    model: Path | None = None
    #: how large the face network sees a frame: fast (256 px), balanced (416), accurate (1024-1280)
    profile: Profile = DEFAULT_PROFILE
    #: CPU threads per ONNX session; None: every core
    threads: int | None = Field(None, ge=1)
    #: images with more pixels are refused before decoding
    max_pixels: int = Field(MAX_PIXELS, ge=1)

    def detector(self, face_threshold: float | None = None):
        """The :class:`~maskwatch.Detector` these settings describe."""
        from .models.detector import Detector

        return Detector(self.model, profile=self.profile, threads=self.threads, face_threshold=face_threshold)

    def _relative_to(self, base: Path) -> None:
        if self.model is not None and not self.model.is_absolute() and (base / self.model).exists():
            self.model = base / self.model


class ClusterSettings(Settings):
    """Running on Ray (``pip install 'maskwatch[ray]'``): a local cluster, or one at ``address``."""

    #: spread the work over a Ray cluster
    ray: bool = False
    #: a running cluster (``HEAD_IP:6379``); None: start a local one
    address: str | None = None
    #: detector actors (``detect``/``evaluate``)
    ray_workers: int = Field(2, ge=1)


class FrameSettings(Settings):
    """Videos and streams (``detect``, ``watch``)."""

    #: inference threads a video's frames are spread over (a decode thread feeds them; output
    #: and tracking stay in frame order); 1: one frame at a time; None: FILE_WORKERS for video
    #: files (throughput), 1 for cameras and streams (latency)
    workers: int | None = Field(None, ge=1)

    def workers_for(self, live: bool) -> int:
        """The inference workers for one source: ``workers`` where given, else by its kind."""
        return self.workers or (1 if live else FILE_WORKERS)


class DetectSettings(ModelSettings, ClusterSettings, FrameSettings):
    #: faces scoring lower are not written or drawn
    min_score: float = Field(OUTPUT_MIN_SCORE, ge=0, le=1)
    #: videos: analyse every Nth frame, carrying boxes forward
    stride: int = Field(1, ge=1)
    #: seconds a camera or stream may stay unreachable (retrying with backoff) before it is given up
    stream_timeout: float = Field(60.0, gt=0)
    #: stop each video or stream after this many frames
    max_frames: int | None = Field(None, ge=1)
    #: image files larger on disk are refused before they are read
    max_image_bytes: int = Field(MAX_IMAGE_BYTES, ge=1)


class EvaluateSettings(ModelSettings, ClusterSettings):
    profile: Profile = EVALUATION_PROFILE
    min_score: float = Field(EVALUATION_MIN_SCORE, ge=0, le=1)

    def detector(self, face_threshold: float | None = None):
        """The detector, its face threshold lowered to ``min_score`` where that is lower."""
        from .models.face_detector import PROFILES

        floor = min(self.min_score, PROFILES[self.profile].threshold)
        return super().detector(floor if face_threshold is None else face_threshold)


# --- the events database that watch writes and serve and report read --------------------------
class StoreSettings(Settings):
    #: a SQLAlchemy URL (postgresql+psycopg://user:pw@host/db); None: SQLite in ``data_dir``
    database: str | None = None
    #: the folder of the default SQLite database
    data_dir: Path = DEFAULT_DATA_DIR

    @property
    def database_url(self) -> str:
        return self.database or f"sqlite:///{self.data_dir / DATABASE_FILE}"

    @property
    def database_exists(self) -> bool:
        """True for a named database, or when the default SQLite file is there."""
        return bool(self.database) or (self.data_dir / DATABASE_FILE).exists()


# --- watch -------------------------------------------------------------------------------------
_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LineConfig(_Strict):
    start: tuple[float, float]
    end: tuple[float, float]
    direction: Literal["in", "out", "any"] = "any"


class CameraConfig(_Strict):
    #: unique; made from the source when not given (webcam0, a file's stem, a URL's host-path)
    name: str | None = None
    #: a video file, a webcam index, or an rtsp/http URL
    source: str
    #: analyse at most this many frames a second
    max_fps: float | None = Field(None, gt=0)
    #: a polygon: only faces inside it count
    zone: list[tuple[float, float]] | None = None
    #: a line to cross: only people who crossed it count
    line: LineConfig | None = None
    #: a file played again and again (demos, soak tests)
    loop: bool = False
    #: seconds a live camera may be down before it is given up; None: retried for ever
    reconnect_timeout: float | None = Field(None, gt=0)

    @field_validator("zone")
    @classmethod
    def _zone(cls, zone):
        if zone is not None and len(zone) < 3:
            raise ValueError("a zone needs at least 3 points")
        return zone or None

    @field_validator("source", mode="before")
    @classmethod
    def _source(cls, source):
        return str(source) if isinstance(source, int) else source


class CountingConfig(_Strict):
    #: analysed frames a track needs before the person counts
    min_frames: int = Field(5, ge=1)
    #: seconds after which a lingering person is decided
    decide_after: float = Field(5.0, gt=0)
    #: seconds a track survives without detections
    lost_seconds: float = Field(1.0, gt=0)


class WatchSettings(ModelSettings, StoreSettings, ClusterSettings, FrameSettings):
    cameras: list[CameraConfig] = Field(min_length=1)
    #: faces scoring lower are not tracked
    min_score: float = Field(OUTPUT_MIN_SCORE, ge=0, le=1)
    counting: CountingConfig = CountingConfig()
    #: where violations go besides the database: {type: webhook, url: ...} or {type: log}
    sinks: list[dict] = Field(default_factory=list)
    #: JPEG quality of event snapshots
    snapshot_quality: int = Field(85, ge=1, le=100)

    @field_validator("sinks")
    @classmethod
    def _sinks(cls, sinks):
        """Each sink is built once here, so a file: URL, a header with a line break or a
        timeout that is no number stops ``watch`` at start (exit 2), not at the first event."""
        from .events.sinks import make_sink

        for spec in sinks:
            try:
                make_sink(spec)
            except ConfigError as exc:
                raise ValueError(str(exc).removeprefix("sinks: ")) from None
        return sinks

    @field_validator("cameras", mode="before")
    @classmethod
    def _cameras(cls, cameras):
        if isinstance(cameras, list):
            return [{"source": c} if isinstance(c, (str, int)) else c for c in cameras]
        return cameras

    @model_validator(mode="after")
    def _names(self):
        used: set[str] = set()
        for cam in self.cameras:
            cam.name = cam.name or camera_name(cam.source, used)
            if not _NAME.match(cam.name) or cam.name in used:
                raise ValueError(f"camera name {cam.name!r} must be unique, 1-100 of A-Z a-z 0-9 _ . : -")
            used.add(cam.name)
        return self

    def _relative_to(self, base: Path) -> None:
        super()._relative_to(base)
        from .pipelines.sources import live_kind

        for cam in self.cameras:
            src = cam.source
            if not live_kind(src) and not Path(src).is_absolute() and (base / src).exists():
                cam.source = str(base / src)


def camera_name(source: str, used: set[str]) -> str:
    """A readable unique name from a source: webcam0, a file's stem, 10.0.0.5-stream1."""
    from .pipelines.sources import live_kind

    live = live_kind(source)
    if live == "camera":
        base = f"webcam{source}"
    elif live == "stream":
        base = re.sub(r"[^A-Za-z0-9_.-]+", "-", source.split("://", 1)[1])[:60]
    else:
        base = Path(source).stem
    base = re.sub(r"[^A-Za-z0-9_.:-]+", "-", base) or "camera"
    name, n = base, 2
    while name in used:
        name, n = f"{base}-{n}", n + 1
    return name


# --- serve -------------------------------------------------------------------------------------
class ServeSettings(ModelSettings, StoreSettings, ClusterSettings):
    #: address to listen on (0.0.0.0 for all interfaces)
    host: str = "127.0.0.1"
    #: HTTP port (API, web page, /docs, /metrics)
    port: int = Field(8000, ge=0, le=65535)
    #: gRPC port; 0: no gRPC server
    grpc_port: int = Field(50051, ge=0, le=65535)
    #: faces scoring lower are not returned (a request's ?min_score= overrides it)
    min_score: float = Field(OUTPUT_MIN_SCORE, ge=0, le=1)
    #: inference threads, and how many requests may wait for one before 503 + Retry-After
    workers: int = Field(2, ge=1)
    queue: int = Field(16, ge=0)
    #: browser origins allowed to call the API (CORS); none by default
    cors_origins: list[str] = Field(default_factory=list)
    #: when set, every /v1 route, /metrics and the WebSocket need it
    api_key: str | None = None
    #: a server-side camera (index or URL) shown at /v1/stream.mjpg
    source: str | None = None
    #: largest image and video uploads (MB); longest video analysed (seconds)
    max_upload_mb: float = Field(20, gt=0)
    max_video_mb: float = Field(100, gt=0)
    max_video_seconds: float = Field(120, gt=0)
    #: a video upload stops after this many analysed frames; frames with more pixels are refused
    max_video_frames: int = Field(1000, ge=1)
    max_video_pixels: int = Field(MAX_PIXELS, ge=1)
    #: video analyses run in a pool of their own (so images keep being answered): its threads,
    #: and how many uploads may wait for one before 503 + Retry-After
    video_workers: int = Field(1, ge=1)
    video_queue: int = Field(2, ge=0)
    #: the TF-Serving model name
    model_name: str = "maskwatch"

    #: Ray Serve autoscaling (``serve --ray``): replicas and requests in flight per replica
    min_replicas: int = Field(1, ge=1)
    max_replicas: int = Field(2, ge=1)
    target_ongoing_requests: float = Field(2.0, gt=0)

    @property
    def max_image_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_video_bytes(self) -> int:
        return int(self.max_video_mb * 1024 * 1024)
