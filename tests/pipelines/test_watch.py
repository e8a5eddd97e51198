"""`maskwatch watch` end to end on a walk-by video of real faces with known people per label:
the counts, the events and their snapshots, webhooks, a dropped stream, SIGTERM, and a
kill -9 in the middle of a run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import yaml
from servers import Camera, Receiver
from sqlalchemy import text
from typer.testing import CliRunner

from maskwatch.cli import app
from maskwatch.events.store import EventStore
from maskwatch.pipelines.watch import run_watch
from maskwatch.settings import WatchSettings

ROOT = Path(__file__).resolve().parents[1]


def decodes(jpeg: bytes | None) -> bool:
    return jpeg is not None and cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR) is not None


def test_walkby_counts_each_person_once_with_the_right_label(db_url, walkby, detector):
    store = EventStore(db_url)
    cfg = WatchSettings.resolve({"cameras": [{"name": "door", "source": walkby["video"]}]})
    result = run_watch(cfg, detector, store, install_signals=False)
    stats = result.cameras["door"]
    assert stats.analysed == walkby["frames"] and stats.state == "stopped"
    assert store.counts()["per_label"] == walkby["people"]  # 2 / 2 / 2, nobody twice
    events = store.events(snapshots=True)
    assert sorted(e.label for e in events) == ["mask_incorrect"] * 2 + ["without_mask"] * 2
    assert len({e.track_id for e in events}) == 4
    assert all(decodes(e.face_jpeg) and decodes(e.frame_jpeg) for e in events)
    face = cv2.imdecode(np.frombuffer(events[0].face_jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert 80 < face.shape[0] < 300  # the face with some context, not the frame
    [camera] = store.cameras()
    assert (camera.name, camera.state, camera.frames) == ("door", "stopped", walkby["frames"])
    store.close()


def test_a_full_disk_holds_people_in_memory_until_it_can_write(walkby, detector, tmp_path):
    from sqlalchemy.exc import OperationalError

    class FullDisk(EventStore):
        refusals = 0

        def record(self, person, sinks=()):
            if self.refusals < 3:  # the first three writes hit a full disk
                self.refusals += 1
                raise OperationalError("INSERT", {}, Exception("database or disk is full"))
            return super().record(person, sinks)

    store = FullDisk(f"sqlite:///{tmp_path / 'w.db'}")
    cfg = WatchSettings.resolve({"cameras": [{"name": "door", "source": walkby["video"]}]})
    run_watch(cfg, detector, store, install_signals=False)
    assert store.refusals == 3
    assert store.counts()["per_label"] == walkby["people"]  # nobody lost
    store.close()


def test_detect_json_on_a_video_has_one_track_id_per_person(walkby, tmp_path):
    out = tmp_path / "faces.jsonl"
    res = CliRunner().invoke(app, ["detect", walkby["video"], "--json", str(out), "-q"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    ids = {r["track_id"] for r in rows if r.get("track_id") is not None}
    assert len(ids) == sum(walkby["people"].values())
    per_track = [sum(r.get("track_id") == i for r in rows) for i in ids]
    assert min(per_track) >= 10  # each person followed across the picture, not re-identified
    # a face gets its id once the tracker has confirmed it: the faces left without one are
    # people stepping in (the one-pass detector finds their half faces at the frame's edge,
    # 2-3 frames a person), each in the 3 frames before its track starts and where it starts,
    # never a face in the open that the tracker ignores
    untracked = [r for r in rows if r.get("track_id") is None]
    assert len(untracked) <= 3 * len(ids)
    starts = [min((r for r in rows if r.get("track_id") == i), key=lambda r: r["frame"]) for i in ids]

    def entering(u: dict) -> bool:
        return any(
            0 < s["frame"] - u["frame"] <= 3
            and abs((u["x1"] + u["x2"]) - (s["x1"] + s["x2"])) / 2 < 1.5 * (s["x2"] - s["x1"])
            for s in starts
        )

    assert all(entering(u) for u in untracked), [u for u in untracked if not entering(u)]


def test_watch_cli_sends_webhooks_and_report_shows_the_counts(walkby, tmp_path):
    hook = Receiver()
    db = f"sqlite:///{tmp_path / 'w.db'}"
    try:
        res = CliRunner().invoke(app, ["watch", walkby["video"], "--database", db, "--webhook", hook.url, "-q"])
        assert res.exit_code == 0, res.output
        assert "6 people (with_mask 2, without_mask 2, mask_incorrect 2), 4 violation(s)" in res.output
        assert sorted(hook.received.values()) == [1, 1, 1, 1]
    finally:
        hook.close()
    res = CliRunner().invoke(app, ["report", "--database", db, "--since", "2h", "-o", str(tmp_path / "rep.html")])
    assert res.exit_code == 0, res.output
    assert "6 people, 4 violations, compliance 33.3%" in res.output
    assert json.loads((tmp_path / "rep.json").read_text())["per_camera"]["walk"]["people"] == 6


def _watch_process(cfg_path: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "maskwatch.cli", "watch", str(cfg_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=cfg_path.parent,
    )


def _wait_for(condition, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"watch exited early: {proc.stdout.read()}")
        time.sleep(0.2)
    raise AssertionError("timed out")


def _events(store: EventStore) -> dict:
    return {e.id: (e.label, e.track_id, e.face_jpeg, e.frame_jpeg) for e in store.events(limit=1000, snapshots=True)}


def test_kill_9_mid_run_leaves_stored_events_intact_and_a_restart_goes_on(db_url, walkby, tmp_path):
    hook = Receiver(down=True)  # deliveries pile up in the outbox while the process dies
    cfg = {
        "database": db_url,
        "cameras": [{"name": "door", "source": walkby["video"], "loop": True}],
        "sinks": [{"type": "webhook", "url": hook.url, "timeout": 2}],
    }
    cfg_path = tmp_path / "watch.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    store = EventStore(db_url)
    proc = _watch_process(cfg_path)
    try:
        _wait_for(lambda: store.event_count() >= 3, 90, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    before = _events(store)
    assert len(before) >= 3
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "sqlite":
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        orphans = conn.execute(
            text("SELECT count(*) FROM events e LEFT JOIN people p ON p.id = e.person_id WHERE p.id IS NULL")
        ).scalar()
        undelivered = conn.execute(text("SELECT count(*) FROM outbox WHERE delivered_at IS NULL")).scalar()
    assert orphans == 0 and undelivered == len(before)  # each event came with its person and outbox row
    assert all(decodes(face) and decodes(frame) for _, _, face, frame in before.values())

    # the killed process left rows waiting: in backoff after the down webhook's 503s (1, 2,
    # 4 s ...) or claimed by a request in flight (until the claim lapses). The restart below
    # is shorter than that wait and its last round sends only what is due, as designed; so
    # let every row come due first
    from sqlalchemy import func, or_, select

    from maskwatch.events.schema import Delivery
    from maskwatch.events.store import utcnow

    def all_due() -> bool:
        now = utcnow()
        waiting = select(func.count()).select_from(Delivery).where(Delivery.delivered_at.is_(None))
        waiting = waiting.where(or_(Delivery.claimed_until > now, Delivery.next_attempt_at > now))
        with store.engine.connect() as conn:
            return not conn.execute(waiting).scalar()

    _wait_for(all_due, 40)

    # restart on the same database, webhook back: one more pass, every event sent once
    hook.down = False
    cfg["cameras"][0]["loop"] = False
    cfg_path.write_text(yaml.safe_dump(cfg))
    try:
        result = run_watch(WatchSettings.resolve(cfg_path), store=store, install_signals=False)
    finally:
        hook.close()
    after = _events(store)
    assert {k: after[k] for k in before} == before  # nothing changed or lost
    assert len(after) == len(before) + 4
    assert result.pending == 0 and dict(hook.received) == dict.fromkeys(after, 1)
    store.close()


def test_sigterm_stops_cleanly(walkby, tmp_path):
    db = tmp_path / "data" / "maskwatch.db"
    cfg_path = tmp_path / "watch.yaml"
    cfg_path.write_text(
        yaml.safe_dump(
            {"database": f"sqlite:///{db}", "cameras": [{"name": "door", "source": walkby["video"], "loop": True}]}
        )
    )
    proc = _watch_process(cfg_path)
    store = EventStore(f"sqlite:///{db}")
    try:
        _wait_for(lambda: store.counts()["people"] >= 1, 90, proc)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "SIGTERM: stopping" in out and "door:" in out
    assert store.cameras()[0].state == "stopped"
    store.close()


def test_a_dropped_stream_reconnects_and_the_other_camera_loses_nothing(walkby, detector, tmp_path):
    avi = tmp_path / "cam.avi"
    cap = cv2.VideoCapture(walkby["video"])
    writer = cv2.VideoWriter(str(avi), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
    n = 0
    while n < 40:
        ok, frame = cap.read()
        if not ok:
            break
        writer.write(frame)
        n += 1
    writer.release()
    camera = Camera(avi, down=lambda n: n in (2, 3))  # served, refused twice (rebooting), served again
    store = EventStore(f"sqlite:///{tmp_path / 'w.db'}")
    cfg = WatchSettings.resolve(
        {"cameras": [{"name": "street", "source": camera.url}, {"name": "door", "source": walkby["video"]}]}
    )
    stop = threading.Event()
    workers = {}
    box = {}
    thread = threading.Thread(
        target=lambda: box.setdefault(
            "result",
            run_watch(
                cfg,
                detector,
                store,
                install_signals=False,
                stop=stop,
                on_start=lambda ws: workers.update({w.camera.name: w for w in ws}),
            ),
        )
    )
    thread.start()
    try:
        _wait_for(
            lambda: "street" in workers and workers["street"].stats.frames > n + 5 and not workers["door"].is_alive(),
            120,
        )
    finally:
        stop.set()
        thread.join(60)
        camera.close()
    street, door = box["result"].cameras["street"], box["result"].cameras["door"]
    assert camera.served["n"] >= 4  # served, refused twice, served again
    assert street.frames > n  # frames from after the reconnection
    assert door.analysed == walkby["frames"]
    assert store.counts(cameras=["door"])["per_label"] == walkby["people"]
    store.close()


def test_bad_config_is_one_clear_error(tmp_path, watch_config):
    res = watch_config("cameras:\n  - {name: a, source: x.mp4, zone: [[0, 0], [1, 1]]}\n")
    assert res.exit_code == 2 and "a zone needs at least 3 points" in res.output
    res = watch_config("cameras: [x.mp4]\ncamras: []\n")
    assert res.exit_code == 2 and "unknown key(s) ['camras']" in res.output
    res = CliRunner().invoke(app, ["watch", str(tmp_path / "missing.mp4"), "--database", f"sqlite:///{tmp_path}/x.db"])
    assert res.exit_code == 1 and "no such video file" in res.output
