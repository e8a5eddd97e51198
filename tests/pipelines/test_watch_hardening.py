"""`watch` and `report` under an unlucky operator: two processes on one SQLite folder, a
webhook that never answers at SIGTERM, a kill -9 seen by the report, a full disk, a bad
config, and reports that say what they cover."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from servers import Hanging, Receiver
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from maskwatch.cli import app
from maskwatch.draw import COLORS_BGR
from maskwatch.events import db as events_db
from maskwatch.events.store import EventStore, PersonRecord
from maskwatch.events.watch_report import _figures, build_report, write_report
from maskwatch.pipelines import watch as watch_module
from maskwatch.pipelines.watch import encode_snapshots, run_watch
from maskwatch.settings import WatchSettings


def _watch(cfg_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "maskwatch.cli", "watch", str(cfg_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=cfg_path.parent,
    )


def _wait_for(condition, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc.poll() is not None:
            raise AssertionError(f"watch exited early: {proc.stdout.read()}")
        time.sleep(0.2)
    raise AssertionError("timed out")


def _config(tmp_path: Path, name: str, **cfg) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return path


def _watch_door_on_loop(tmp_path: Path, walkby: dict, **cfg) -> tuple[subprocess.Popen, EventStore]:
    """`watch` in a subprocess on the walk-by video played in a loop as camera "door", into
    a SQLite database under ``tmp_path``; ``cfg``: more of its config. Returns the process and
    that database's store."""
    db = tmp_path / "data" / "maskwatch.db"
    cameras = [{"name": "door", "source": walkby["video"], "loop": True}]
    proc = _watch(_config(tmp_path, "watch.yaml", database=f"sqlite:///{db}", cameras=cameras, **cfg))
    return proc, EventStore(f"sqlite:///{db}")


def test_two_watch_processes_on_one_sqlite_folder_send_each_webhook_once(walkby, tmp_path):
    hook = Receiver(delay=0.3)  # slow: both outboxes see the same rows due
    data = tmp_path / "data"
    procs = []
    try:
        for name in ("a", "b"):
            cfg = _config(
                tmp_path,
                f"{name}.yaml",
                data_dir=str(data),
                cameras=[{"name": f"door-{name}", "source": walkby["video"]}],
                sinks=[{"type": "webhook", "url": hook.url, "timeout": 5}],
            )
            procs.append(_watch(cfg))
        outs = [p.communicate(timeout=300)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        hook.close()
    assert [p.returncode for p in procs] == [0, 0], outs
    store = EventStore(f"sqlite:///{data / 'maskwatch.db'}")
    ids = [e.id for e in store.events(limit=1000)]
    assert len(ids) == 8  # 4 violations per process
    assert dict(hook.received) == dict.fromkeys(ids, 1)  # every event once, none twice
    store.close()


def test_sigterm_with_a_hanging_webhook_keeps_the_drain_bound(walkby, tmp_path):
    hanging = Hanging()
    sinks = [{"type": "webhook", "url": hanging.url, "timeout": 30}]  # 30 s per try
    proc, store = _watch_door_on_loop(tmp_path, walkby, sinks=sinks)
    try:
        _wait_for(lambda: store.event_count() >= 2 and len(hanging.accepted) >= 1, 120, proc)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
        hanging.close()
    assert proc.returncode == 0, out
    assert took < 15, f"SIGTERM took {took:.0f} s (drain is 5 s)\n{out}"
    assert "pending" in out and store.cameras()[0].state == "stopped"
    undelivered = [d for d in store.deliveries() if d.delivered_at is None and not d.failed]
    assert len(undelivered) == store.event_count()  # kept for the next start
    assert all(d.claimed_by is None or d.claimed_until is not None for d in undelivered)
    store.close()


def test_report_shows_a_kill_9_camera_as_stale_not_running(walkby, tmp_path):
    proc, store = _watch_door_on_loop(tmp_path, walkby)
    try:
        _wait_for(lambda: store.counts()["people"] >= 1, 120, proc)
        live = write_report(store, tmp_path / "live.html")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert live["camera_status"][0]["state"] == "running"
    time.sleep(3)
    dead = write_report(store, tmp_path / "dead.html", stale_after=2)
    [cam] = dead["camera_status"]
    assert cam["state"] == "stale" and cam["last_state"] == "running" and cam["heartbeat_age_s"] >= 2
    assert cam["last_heartbeat"].endswith("Z")
    assert "stale: no heartbeat for" in (tmp_path / "dead.html").read_text()
    # the default threshold (60 s) still treats a fresh heartbeat as running
    assert build_report(store)["status"][0][1] == "running"
    store.close()


def _full_after_schema(monkeypatch, spare_pages: int = 2):
    """Every new SQLite connection may grow the file by ``spare_pages`` pages: a real
    SQLITE_FULL ("database or disk is full") as soon as a snapshot is written."""
    original = events_db._sqlite_pragmas

    def pragmas(dbapi_conn, record):
        original(dbapi_conn, record)
        cur = dbapi_conn.cursor()
        pages = cur.execute("PRAGMA page_count").fetchone()[0]
        cur.execute(f"PRAGMA max_page_count = {pages + spare_pages}")
        cur.close()

    monkeypatch.setattr(events_db, "_sqlite_pragmas", pragmas)


def test_a_full_disk_during_watch_says_so_and_the_exit_code_shows_the_loss(walkby, tmp_path, monkeypatch, caplog):
    url = f"sqlite:///{tmp_path / 'data' / 'maskwatch.db'}"
    EventStore(url).close()  # the schema exists; then the disk fills up
    _full_after_schema(monkeypatch)
    monkeypatch.setattr(watch_module, "FINAL_TRIES", 2)
    res = CliRunner().invoke(app, ["watch", walkby["video"], "--database", url])
    assert res.exit_code == 1, res.output  # the run lost people: not exit 0
    assert "could NOT be stored" in res.output and "are lost" in res.output
    assert "held in memory" in caplog.text and "database or disk is full" in caplog.text
    assert "LOST (track" in caplog.text  # which ones, by track and label


def test_a_full_disk_that_frees_up_loses_nobody(walkby, detector, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'data' / 'maskwatch.db'}"
    EventStore(url).close()

    class FillsThenFrees(EventStore):
        refusals = 0

        def record(self, person, sinks=()):
            try:
                return super().record(person, sinks)
            except OperationalError:  # a real SQLITE_FULL
                self.refusals += 1
                if self.refusals == 3:  # someone cleans up the disk
                    with self.engine.connect() as conn:
                        conn.exec_driver_sql("PRAGMA max_page_count = 1073741823")
                raise

    _full_after_schema(monkeypatch)
    from sqlalchemy.pool import StaticPool  # one connection, so the freed limit applies to it

    store = FillsThenFrees(engine=events_db.create_engine(url, poolclass=StaticPool))
    events_db.event.listen(store.engine, "connect", events_db._sqlite_pragmas)
    cfg = WatchSettings.resolve({"cameras": [{"name": "door", "source": walkby["video"]}]})
    result = run_watch(cfg, detector, store, install_signals=False)
    assert store.refusals == 3
    assert result.lost == 0 and result.cameras["door"].held_peak >= 1
    assert store.counts()["per_label"] == walkby["people"]  # nobody lost
    store.close()


def test_a_bad_watch_config_stops_at_start_with_exit_2(tmp_path, watch_config):
    res = watch_config("cameras: [x.mp4]\ncounting: {min_frames: abc}\n")
    assert res.exit_code == 2 and "counting.min_frames" in res.output and "'abc'" in res.output
    res = watch_config("cameras: [x.mp4]\nsinks: [{type: webhook, url: 'file:///etc/passwd'}]\n")
    assert res.exit_code == 2 and "only http:// and https://" in res.output
    res = watch_config(
        "cameras: [x.mp4]\nsinks: [{type: webhook, url: 'http://h/x', headers: {X-A: \"1\\r\\nX-B: 2\"}}]\n"
    )
    assert res.exit_code == 2 and "no CR, LF" in res.output
    res = CliRunner().invoke(app, ["watch", "x.mp4", "--webhook", "data:,x", "--data-dir", str(tmp_path / "d")])
    assert res.exit_code == 2 and "only http:// and https://" in res.output
    assert not (tmp_path / "d").exists()  # refused before anything was opened


@pytest.mark.parametrize("label", ["mask_incorrect", "without_mask"])
def test_event_snapshots_box_the_face_in_the_label_colour(label):
    frame = np.full((960, 1280, 3), 128, np.uint8)
    _face, boxed = encode_snapshots(frame, (400, 300, 700, 700), quality=100, label=label)
    img = cv2.imdecode(np.frombuffer(boxed, np.uint8), cv2.IMREAD_COLOR)
    edge = img[500, 400].astype(int)  # on the box's left side (lines are 3 px wide here)
    assert np.abs(edge - np.array(COLORS_BGR[label])).max() < 45, edge  # orange is not red


def _person(run: str, camera: str, label: str, minute: int) -> PersonRecord:
    t = datetime(2026, 11, 22, 8, 0) + timedelta(minutes=minute)
    return PersonRecord(camera, run, minute, label, 0.9, 12, t, t + timedelta(seconds=2), (1, 2, 30, 40))


def test_report_says_which_database_and_window_and_warns_about_unknown_names(tmp_path):
    data = tmp_path / "data"
    store = EventStore(f"sqlite:///{data / 'maskwatch.db'}")
    for run in ("run-1", "run-2"):  # the main job run twice into one folder
        for i, label in enumerate(["with_mask", "without_mask", "mask_incorrect"]):
            store.record(_person(run, "door", label, i))
    store.close()
    out = tmp_path / "rep.html"
    args = ["report", "--data-dir", str(data), "-o", str(out), "--since", "2026-11-22T08:00"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert str(data / "maskwatch.db") in res.output
    assert "2026-11-22T08:00:00Z to now" in res.output
    assert "holds 6 people from 2 watch run(s)" in res.output
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["since"] == "2026-11-22T08:00:00Z" and report["database"].endswith("maskwatch.db")
    assert report["database_holds"]["runs"] == 2
    assert all(row["start"].endswith("Z") for row in report["series"])
    assert all(e["time"].endswith("Z") for e in report["events"])
    html = out.read_text()
    assert "maskwatch.db" in html and "holds 6 people from 2 watch run(s)" in html and ":00Z" in html

    res = CliRunner().invoke(app, [*args, "--camera", "dor"])
    assert res.exit_code == 0 and "warning: no camera named 'dor'" in res.output and "known: door" in res.output

    typo = tmp_path / "dat"
    res = CliRunner().invoke(app, ["report", "--data-dir", str(typo), "-o", str(tmp_path / "x.html")])
    assert res.exit_code == 2 and "no events database in" in res.output
    assert not typo.exists()  # nothing created in the mistyped folder


def test_report_charts_count_whole_people_and_keep_the_legend_off_the_bars():
    import matplotlib.pyplot as plt

    from maskwatch.events.store import per_minute, tally

    rows = [("door", "with_mask", datetime(2026, 11, 22, 8, m)) for m in range(3)]
    rows += [("hall", "without_mask", datetime(2026, 11, 22, 8, 1))]
    _total, per_camera = tally(rows)
    figures = _figures(per_minute(rows), per_camera, timedelta(minutes=1))
    assert set(figures) == {"time", "cameras"}
    for fig in figures.values():
        fig.canvas.draw()
        for ax in fig.axes:
            if ax.get_ylabel() != "people":
                continue
            ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
            assert all(float(t).is_integer() for t in ticks), ticks  # no half people
            legend, box = ax.get_legend().get_window_extent(), ax.get_window_extent()
            assert not legend.overlaps(box), (legend, box)  # beside the plot, not over the bars
        plt.close(fig)
