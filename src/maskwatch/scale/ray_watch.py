"""``maskwatch watch site.yaml --ray``: every camera a Ray actor, restarted when it dies
(``max_restarts``), all writing one events database (PostgreSQL across machines; SQLite only
when every actor runs on this machine).

A camera actor runs the plain path's :class:`~maskwatch.pipelines.watch.CameraWorker` (its
own detector, tracker, counter and backlog). What makes a restart safe is that a counted
person's id is no longer random: it is derived from the run, the camera, the track and the
track's first frame time. An actor that is restarted on a video file reads it again from the
start; the people it had already stored come out with the same ids and the database refuses
them (the worker skips an ``IntegrityError`` as "already there"), and the people it had not
stored yet are stored now: none lost, none doubled. On a live camera the frames missed while
the actor was down are gone, and so are the tracks still open when it died; nothing is
doubled. The outbox (``SKIP LOCKED`` rows) is drained by the driver, and could be by any
number of processes.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid

from ..settings import CameraConfig, WatchSettings
from . import init_ray, need_ray, with_threads

log = logging.getLogger("maskwatch.watch")
_IDS = uuid.UUID("6f1c8a52-3e0b-4d55-9b7e-0c5b1d2a9e41")


def person_id(run_id: str, camera: str, track_id: int, first_t: float) -> str:
    """The id of a counted person, the same each time the same run sees the same track."""
    return str(uuid.uuid5(_IDS, f"{run_id}/{camera}/{track_id}/{first_t:.3f}"))


def _worker_class():
    from ..pipelines.watch import CameraWorker

    class ReplayableCameraWorker(CameraWorker):
        """A CameraWorker whose people have deterministic ids (see the module)."""

        def _record(self, person, wall0):
            record = super()._record(person, wall0)
            record.id = person_id(self.run_id, self.camera.name, person.track_id, person.first_t)
            return record

    return ReplayableCameraWorker


class CameraActor:
    """One camera on the cluster; Ray runs ``__init__`` again (same arguments) on a restart,
    which starts the camera again."""

    def __init__(self, camera: CameraConfig, settings: WatchSettings, run_id: str, threads: int | None = 1):
        import os

        from ..events.store import EventStore
        from ..pipelines.watch import check_sinks

        settings = with_threads(settings, threads)
        self.pid = os.getpid()
        store = EventStore(settings.database_url)
        self.worker = _worker_class()(camera, settings, settings.detector(), store, check_sinks(settings.sinks), run_id)
        self.worker.start()

    def status(self) -> dict:
        return {"pid": self.pid, "alive": self.worker.is_alive(), "stats": dataclasses.asdict(self.worker.stats)}

    def keepalive(self) -> bool:
        self.worker.keepalive()
        return self.worker.is_alive()

    def stop(self, timeout: float = 30.0) -> dict:
        self.worker.stop()
        self.worker.join(timeout)
        return self.status()


def watch_ray(
    settings: WatchSettings,
    address: str | None = None,
    max_restarts: int = 3,
    stop: threading.Event | None = None,
    on_start=None,
    drain_seconds: float = 5.0,
    threads: int | None = 1,
    num_cpus: float = 1.0,
):
    """``maskwatch watch --ray``: :func:`~maskwatch.pipelines.watch.run_watch` with each
    camera a Ray actor (restarted up to ``max_restarts`` times) until the files end or
    ``stop`` is set.

    Args:
        settings: the resolved :class:`~maskwatch.settings.WatchSettings` (use a PostgreSQL
            ``database`` when the actors run on more than one machine).
        address: the cluster; None: a local Ray started here (or the one already running).
        max_restarts: restarts per camera actor (-1: for ever).
        stop: set it to stop every camera.
        on_start: called with ``{camera name: actor handle}`` once they run (tests).
        drain_seconds: how long the outbox may deliver after the cameras stopped.
        threads: ONNX threads per actor when the settings give none.
        num_cpus: CPUs each camera actor reserves.

    Returns:
        :class:`~maskwatch.pipelines.watch.WatchResult` (per-camera statistics are those of
        each actor's last life).
    """
    ray = need_ray("watch --ray")
    from ..events.store import EventStore
    from ..pipelines.watch import CameraStats, WatchResult, check_sinks, finish_delivery, start_delivery

    t0 = time.perf_counter()
    sinks = check_sinks(settings.sinks)
    store = EventStore(settings.database_url)  # migrates once, before the actors open it
    started = init_ray(address)
    run_id = str(uuid.uuid4())
    remote = ray.remote(CameraActor)
    actors = {
        cam.name: remote.options(
            name=f"maskwatch-camera-{cam.name}-{run_id[:8]}",
            max_restarts=max_restarts,
            max_task_retries=-1,
            num_cpus=num_cpus,
        ).remote(cam, settings, run_id, threads)
        for cam in settings.cameras
    }
    outbox = start_delivery(sinks, store)
    stop = stop or threading.Event()
    stats: dict[str, CameraStats] = {}
    try:
        ray.get([a.status.remote() for a in actors.values()])  # every camera is up
        if on_start:
            on_start(actors)
        running = dict(actors)
        while running and not stop.wait(0.5):
            for name, actor in list(running.items()):
                try:
                    if not ray.get(actor.keepalive.remote(), timeout=60):
                        running.pop(name)
                except ray.exceptions.RayActorError as exc:  # out of restarts
                    log.error("camera %s: actor gone for good: %s", name, exc)
                    running.pop(name)
                except ray.exceptions.GetTimeoutError:
                    pass  # restarting (loading the model): asked again next round
    finally:
        for name, actor in actors.items():
            try:
                stats[name] = CameraStats(**ray.get(actor.stop.remote(), timeout=60)["stats"])
            except Exception as exc:
                stats[name] = CameraStats(state="failed", error=str(exc))
            ray.kill(actor, no_restart=True)
        pending = finish_delivery(outbox, sinks, drain_seconds)
        if started:
            ray.shutdown()
    return WatchResult(stats, time.perf_counter() - t0, outbox.delivered, pending)
