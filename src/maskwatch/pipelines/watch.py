"""``maskwatch watch``: every camera in its own worker thread (one shared, thread-safe
Detector), each with its own tracker and counter, all writing to one events database.

A live camera that drops is retried with backoff for as long as it takes (or
``reconnect_timeout``), and never stops the others. SIGINT/SIGTERM stop the workers,
which decide and store every track still open, and the outbox gets a last try."""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import cv2
import numpy as np
from sqlalchemy.exc import IntegrityError

from ..draw import COLORS_BGR
from ..errors import ConfigError, SourceError
from ..events.outbox import OutboxWorker
from ..events.sinks import make_sink
from ..events.store import EventStore, PersonRecord, event_dict, record_event, summarize, utc_text, utcnow
from ..labels import LABELS, WITHOUT_MASK
from ..settings import CameraConfig, WatchSettings
from ..tracking.counting import CountedPerson, PeopleCounter
from ..tracking.tracker import FaceTracker
from ..tracking.zones import Region
from .frames import FramePipeline
from .sources import FrameReader, live_kind

log = logging.getLogger("maskwatch.watch")
#: Decided people kept in memory while the database cannot take them (full disk, outage).
MAX_UNSAVED = 1000
#: seconds between heartbeats of a camera that is alive but has nothing new to say
KEEPALIVE = 10.0
#: tries, a second apart, to store what is still waiting when a camera stops
FINAL_TRIES = 10


def encode_snapshots(
    frame: np.ndarray, box, quality: int = 85, max_side: int = 1280, label: str | None = None
) -> tuple[bytes, bytes]:
    """(face JPEG, frame JPEG with the face boxed in its label's colour, as in the README's
    legend and ``detect --out``). The face crop keeps some context."""
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = box
    mx, my = 0.25 * (x2 - x1), 0.25 * (y2 - y1)
    cx1, cy1 = max(0, int(x1 - mx)), max(0, int(y1 - my))
    cx2, cy2 = min(w, int(math.ceil(x2 + mx))), min(h, int(math.ceil(y2 + my)))
    crop = frame[cy1:cy2, cx1:cx2] if cx2 > cx1 and cy2 > cy1 else frame
    params = [cv2.IMWRITE_JPEG_QUALITY, quality]
    face_jpeg = cv2.imencode(".jpg", crop, params)[1].tobytes()
    boxed = frame.copy()
    color = COLORS_BGR.get(label, COLORS_BGR[WITHOUT_MASK])
    cv2.rectangle(boxed, (int(x1), int(y1)), (int(x2), int(y2)), color, max(2, w // 400))
    scale = max_side / max(h, w)
    if scale < 1:
        boxed = cv2.resize(boxed, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
    return face_jpeg, cv2.imencode(".jpg", boxed, params)[1].tobytes()


@dataclass
class CameraStats:
    frames: int = 0
    analysed: int = 0
    people: dict = field(default_factory=dict)
    events: int = 0
    reconnects: int = 0
    state: str = "starting"
    error: str | None = None
    #: counted people that could not be stored (full disk, database down) and were dropped
    lost: int = 0
    #: the most people held in memory at once while the database refused them
    held_peak: int = 0


class CameraWorker(threading.Thread):
    def __init__(
        self, camera: CameraConfig, config: WatchSettings, detector, store: EventStore, sinks: list, run_id: str
    ):
        super().__init__(name=f"camera:{camera.name}", daemon=True)
        self.camera, self.config, self.detector, self.store = camera, config, detector, store
        self.sinks = sinks
        self.durable = [s.name for s in sinks if getattr(s, "durable", False)]
        self.run_id = run_id
        self.stats = CameraStats()
        self._halt = threading.Event()
        self._reader_stop = threading.Event()
        self._last_beat = 0.0
        self._unsaved: list[PersonRecord] = []
        self._last_try = 0.0
        self._told = 0  # the backlog size last logged
        self._fps_window: list[float] = []

    def stop(self) -> None:
        self._halt.set()
        self._reader_stop.set()

    # -- storing -------------------------------------------------------------------------
    def _store(self, person: CountedPerson, wall0: datetime) -> None:
        self._unsaved.append(self._record(person, wall0))
        self._save_backlog()

    def _record(self, person: CountedPerson, wall0: datetime) -> PersonRecord:
        """The record of a decided person (snapshots for a violation); ``wall0`` is the wall
        time of the stream's t=0."""
        face_jpeg = frame_jpeg = None
        if person.violation and person.frame is not None:
            face_jpeg, frame_jpeg = encode_snapshots(
                person.frame, person.box, self.config.snapshot_quality, label=person.label
            )
        return PersonRecord(
            camera=self.camera.name,
            run_id=self.run_id,
            track_id=person.track_id,
            label=person.label,
            score=person.score,
            frames=person.frames,
            first_seen=wall0 + timedelta(seconds=person.first_t),
            last_seen=wall0 + timedelta(seconds=person.last_t),
            box=person.box,
            face_jpeg=face_jpeg,
            frame_jpeg=frame_jpeg,
        )

    def _save_backlog(self) -> None:
        """Write what is waiting, oldest first. A full disk or a database that is down keeps
        records in memory (up to ``MAX_UNSAVED``; beyond it the oldest is dropped and
        counted in ``stats.lost``) and they are written when it can take them again."""
        self._last_try = time.monotonic()
        while self._unsaved:
            record = self._unsaved[0]
            try:
                event_id = self.store.record(record, self.durable)
            except IntegrityError:  # committed before the connection dropped: it is there
                self._unsaved.pop(0)
                continue
            except Exception as exc:
                waiting = len(self._unsaved)
                self.stats.held_peak = max(self.stats.held_peak, waiting)
                if waiting > MAX_UNSAVED:
                    lost = self._unsaved.pop(0)
                    self.stats.lost += 1
                    log.error(
                        "camera %s: LOST track %s (%s): %d people already held in memory, the most kept; "
                        "%d lost so far: %s",
                        self.camera.name,
                        lost.track_id,
                        lost.label,
                        MAX_UNSAVED,
                        self.stats.lost,
                        _short(exc),
                    )
                elif waiting != self._told and (waiting == 1 or waiting % 50 == 0):
                    self._told = waiting
                    log.error(
                        "camera %s: cannot store (%s); %d counted people held in memory (at most %d) "
                        "and retried: nothing lost yet",
                        self.camera.name,
                        _short(exc),
                        waiting,
                        MAX_UNSAVED,
                    )
                return
            self._unsaved.pop(0)
            self._told = 0
            if self.stats.held_peak and not self._unsaved:
                log.warning("camera %s: the database takes writes again; every held person is stored", self.camera.name)
            self._after_store(record, event_id)

    def keepalive(self) -> None:
        """A heartbeat if none was sent for ``KEEPALIVE`` s (a camera waiting on a stream, or a
        quiet scene), so a report can tell a live camera from a killed process."""
        if self.is_alive() and time.monotonic() - self._last_beat >= KEEPALIVE:
            self._beat(self.stats.state, message=self.stats.error, force=True)

    def _after_store(self, record: PersonRecord, event_id: str | None) -> None:
        self.stats.people[record.label] = self.stats.people.get(record.label, 0) + 1
        if event_id:
            self.stats.events += 1
            payload = event_dict(record_event(record, event_id))
            for sink in self.sinks:
                if not getattr(sink, "durable", False):
                    try:
                        sink.send(payload)
                    except Exception as exc:  # a log sink failing must not stop counting
                        log.warning("sink %s: %s", sink.name, exc)

    def _beat(self, state: str, reader: FrameReader | None = None, message: str | None = None, force=False) -> None:
        now = time.monotonic()
        if not force and state == self.stats.state and now - self._last_beat < 2.0:
            return
        self.stats.state = state
        self._last_beat = now
        window = self._fps_window
        fps = (len(window) - 1) / (window[-1] - window[0]) if len(window) > 1 and window[-1] > window[0] else 0.0
        try:
            self.store.heartbeat(
                self.camera.name,
                self.camera.source,
                state,
                self.stats.analysed,
                self.stats.reconnects + (reader.reconnects if reader else 0),
                fps,
                message,
            )
        except Exception as exc:
            log.warning("camera %s: heartbeat not stored: %s", self.camera.name, exc)
        self._publish_state(state, fps)

    def _publish_state(self, state: str, fps: float = 0.0) -> None:
        """The camera's counts and status to sinks that keep a state (MQTT's retained topic)."""
        keepers = [s for s in self.sinks if hasattr(s, "state")]
        if not keepers:
            return
        counts = summarize({label: int(self.stats.people.get(label, 0)) for label in LABELS})
        info = {
            "camera": self.camera.name,
            "status": state,
            **counts,
            "fps": round(fps, 1),
            "frames": self.stats.analysed,
            "updated": utc_text(utcnow()),
        }
        for sink in keepers:
            sink.state(self.camera.name, info)

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> None:
        cam = self.camera
        delay = 0.5
        live = live_kind(cam.source) is not None
        while not self._halt.is_set():
            self._reader_stop = threading.Event()
            if self._halt.is_set():
                break
            try:
                reader = FrameReader(
                    cam.source,
                    max_outage=cam.reconnect_timeout or (math.inf if live else 60),
                    stop=self._reader_stop,
                )
            except SourceError as exc:
                self.stats.error = str(exc)
                if not live or self._halt.is_set():
                    log.error("camera %s: %s", cam.name, exc)
                    self._beat("failed", message=str(exc), force=True)
                    return
                self._beat("reconnecting", message=str(exc), force=True)
                self._halt.wait(delay)
                delay = min(delay * 2, 30.0)
                self.stats.reconnects += 1
                continue
            delay = 0.5
            self._beat("running", reader, force=True)
            self._consume(reader, live)
            if not live and not cam.loop:
                break
        for i in range(FINAL_TRIES):  # the database may be back by now
            self._save_backlog()
            if not self._unsaved:
                break
            if i + 1 < FINAL_TRIES:
                time.sleep(1.0)
        if self._unsaved:
            self.stats.lost += len(self._unsaved)
            log.error(
                "camera %s: %d counted people could not be stored and are LOST (%s)",
                cam.name,
                len(self._unsaved),
                ", ".join(f"track {r.track_id} {r.label}" for r in self._unsaved[:10])
                + (" ..." if len(self._unsaved) > 10 else ""),
            )
            self._unsaved.clear()
        self._beat("stopped", force=True, message=self.stats.error)

    def _consume(self, reader: FrameReader, live: bool) -> None:
        cam, counting = self.camera, self.config.counting
        line = cam.line.model_dump() if cam.line else None
        counter = PeopleCounter(
            counting.min_frames, counting.decide_after, counting.lost_seconds, Region(cam.zone, line)
        )
        pipeline = FramePipeline(
            self.detector,
            self.config.min_score,
            tracker=FaceTracker(lost_seconds=counting.lost_seconds),
            max_fps=cam.max_fps,
            workers=self.config.workers_for(live),
        )
        results = pipeline.run(reader)  # frames in order, spread over ``workers`` threads
        wall0 = utcnow()
        try:
            for result in results:
                if self._halt.is_set():
                    break
                frame = result.frame
                self.stats.frames += 1
                if not result.analysed:
                    continue
                for person in counter.update(result.detections, frame.image, frame.t):
                    self._store(person, wall0)
                if self._unsaved and time.monotonic() - self._last_try > 2.0:
                    self._save_backlog()  # the disk may have room again
                self.stats.analysed += 1
                self._fps_window = (self._fps_window + [time.monotonic()])[-30:]
                self._beat("running", reader)
        except SourceError as exc:  # a live source gave up (reconnect_timeout) or a file was corrupt
            self.stats.error = str(exc)
            log.error("camera %s: %s", cam.name, exc)
            if live and not self._halt.is_set():
                self.stats.reconnects += 1
                self._beat("reconnecting", reader, message=str(exc), force=True)
        finally:
            results.close()  # its threads first: they may be waiting on the reader
            reader.close()
            for person in counter.flush():  # nobody still in view is lost at shutdown
                self._store(person, wall0)


def watch_settings(
    sources: list[str],
    max_fps: float | None = None,
    min_frames: int | None = None,
    decide_after: float | None = None,
    webhooks: list[str] = (),
    log_events: bool = False,
    mqtt: str | None = None,
    say_dir: str | None = None,
    **flags,
) -> WatchSettings:
    """``watch``'s settings from the command line: one YAML file (a site config) or a list of
    sources, with flags over the environment over the file.

    Args:
        sources: ``[site.yaml]`` or video files, webcam indices and stream URLs.
        max_fps: a cap for every camera (over each camera's own).
        min_frames, decide_after: counting settings (over the file's ``counting:``).
        webhooks: URLs that get every violation (added to the file's sinks).
        log_events: also log one line per violation.
        mqtt: a broker URL (mqtt://user:pass@host:1883) that gets every violation.
        say_dir: write the spoken reminders as WAV files here (the sound sink without a speaker).
        flags: any other :class:`~maskwatch.settings.WatchSettings` field (None: not given).
    """
    config = sources[0] if len(sources) == 1 and sources[0].lower().endswith((".yaml", ".yml")) else None
    if config is None:
        flags["cameras"] = list(sources)
    counting = {k: v for k, v in (("min_frames", min_frames), ("decide_after", decide_after)) if v is not None}
    settings = WatchSettings.resolve(config, counting=counting or None, **flags)
    for cam in settings.cameras:
        cam.max_fps = max_fps or cam.max_fps
    for i, url in enumerate(webhooks):
        settings.sinks.append({"type": "webhook", "url": url, "name": "webhook" if i == 0 else f"webhook{i + 1}"})
    if log_events:
        settings.sinks.append({"type": "log"})
    if mqtt:
        settings.sinks.append({"type": "mqtt", "url": mqtt})
    if say_dir:
        settings.sinks.append({"type": "sound", "wav_dir": say_dir})
    check_sinks(settings.sinks)
    return settings


def check_sinks(specs: list[dict]) -> list:
    """The sinks, built and checked at start: ConfigError (exit 2) for a bad URL scheme, bad
    headers or two sinks with one name."""
    sinks = [make_sink(s) for s in specs]
    names = [s.name for s in sinks]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"sinks: names must be unique, {twice} used more than once (give each a name:)")
    return sinks


@dataclass
class WatchResult:
    cameras: dict[str, CameraStats]
    seconds: float
    delivered: int
    pending: int

    @property
    def lost(self) -> int:
        """Counted people that could not be stored."""
        return sum(st.lost for st in self.cameras.values())


def run_watch(
    config: WatchSettings,
    detector=None,
    store: EventStore | None = None,
    install_signals: bool = True,
    stop: threading.Event | None = None,
    on_start=None,
    drain_seconds: float = 5.0,
) -> WatchResult:
    """Run every camera until the files end or a signal (or ``stop``) arrives.

    Args:
        config: the resolved :class:`~maskwatch.settings.WatchSettings`.
        detector: a loaded detector to share (default: the one ``config`` describes).
        store: the events database (default: ``config``'s).
        install_signals: stop on SIGINT/SIGTERM (main thread only).
        stop: set it to stop every camera.
        on_start: called with the camera workers once they run (tests, status pages).
        drain_seconds: how long the outbox may deliver after the cameras stopped, a hard
            bound: no request outlives it, however slow the receiver (undelivered rows stay
            in the outbox for the next start).

    Returns:
        :class:`WatchResult`: per-camera statistics and the outbox's figures.
    """
    t0 = time.perf_counter()
    sinks = check_sinks(config.sinks)
    store = store or EventStore(config.database_url)
    detector = detector or config.detector()
    outbox = start_delivery(sinks, store)
    run_id = str(uuid.uuid4())
    workers = [CameraWorker(cam, config, detector, store, sinks, run_id) for cam in config.cameras]
    stop = stop or threading.Event()
    previous = {}
    if install_signals and threading.current_thread() is threading.main_thread():

        def _handler(signum, _frame):
            log.warning("%s: stopping, storing open tracks", signal.Signals(signum).name)
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, _handler)
    try:
        for w in workers:
            w.start()
        if on_start:
            on_start(workers)
        while any(w.is_alive() for w in workers) and not stop.wait(0.2):
            for w in workers:
                w.keepalive()
    finally:
        for w in workers:
            w.stop()
        for w in workers:
            w.join(30)
        pending = finish_delivery(outbox, sinks, drain_seconds)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return WatchResult(
        {w.camera.name: w.stats for w in workers},
        time.perf_counter() - t0,
        outbox.delivered,
        pending,
    )


def start_delivery(sinks: list, store: EventStore) -> OutboxWorker:
    """The outbox delivering to ``sinks`` from ``store``, started. Sinks that send snapshots get
    the store, a sink missing a tool says so now, and the database learns which sinks there are
    (the Watch page's sink states and test alert)."""
    for sink in sinks:
        if hasattr(sink, "store"):
            sink.store = store
        missing = getattr(sink, "missing", lambda: None)()
        if missing:
            log.warning("sink %s: %s", sink.name, missing)
    try:
        store.register_sinks([s for s in sinks if getattr(s, "durable", False)])
    except Exception as exc:  # the Watch page's sink list only
        log.warning("sinks not registered in the database: %s", _short(exc))
    return OutboxWorker(store, sinks).start()


def finish_delivery(outbox: OutboxWorker, sinks: list, drain_seconds: float) -> int:
    """One last delivery round for what the cameras just flushed, bounded by
    ``drain_seconds`` (what is left waits in the outbox for the next start), then the sinks
    close. Returns the rows still pending (-1: unknown, the database cannot be read)."""
    deadline = time.monotonic() + drain_seconds
    outbox.stop(timeout=drain_seconds)
    try:
        while outbox.sinks and time.monotonic() < deadline and outbox.pending() and outbox.drain(deadline):
            pass
    except Exception as exc:  # database full or gone: the rows wait for the next start
        log.error("outbox: last delivery round stopped: %s", _short(exc))
    for sink in sinks:
        if hasattr(sink, "close"):
            sink.close()
    try:
        return outbox.pending() if outbox.sinks else 0
    except Exception:
        return -1


def _short(exc: Exception) -> str:
    """An exception in one line, without SQLAlchemy's statement dump."""
    text = str(getattr(exc, "orig", None) or exc).splitlines()
    return text[0][:200] if text else type(exc).__name__
