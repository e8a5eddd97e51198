"""``watch --ray``: two camera actors on the same video write one PostgreSQL database; one is
killed mid-run, Ray restarts it, and both end with the same people: none lost, none doubled."""

from __future__ import annotations

import threading
import time

import pytest
from videos import make_video

pytest.importorskip("ray", reason="needs the [ray] extra: pip install 'maskwatch[ray]'")


def test_killed_camera_actor_restarts_without_losing_or_doubling(ray_local, tmp_path, val_images, pg_url):
    from sqlalchemy import create_engine, text

    from maskwatch.scale.ray_watch import watch_ray
    from maskwatch.settings import WatchSettings

    url = pg_url
    video = make_video(val_images[20:26], tmp_path / "door.mp4", frames_each=8, fps=10.0)
    settings = WatchSettings.resolve(
        {
            "cameras": [{"name": "killed", "source": str(video)}, {"name": "spared", "source": str(video)}],
            "database": url,
            "counting": {"min_frames": 3, "decide_after": 2.0},
        }
    )
    engine = create_engine(url)
    pids: dict = {}

    def people(camera: str) -> list[tuple[int, str]]:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT track_id, label FROM people WHERE camera = :c"), {"c": camera})
            return sorted((int(t), str(lbl)) for t, lbl in rows)

    def killer(actors):
        import ray

        def run():
            actor = actors["killed"]
            pids["before"] = ray.get(actor.status.remote())["pid"]
            deadline = time.monotonic() + 60
            while not people("killed") and time.monotonic() < deadline:  # one person stored, the rest not
                time.sleep(0.05)
            ray.kill(actor, no_restart=False)
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:  # ray.kill is asynchronous: ask until the new life answers
                try:
                    pids["after"] = ray.get(actor.status.remote(), timeout=30)["pid"]
                except Exception:
                    continue
                if pids["after"] != pids["before"]:
                    break
                time.sleep(0.2)

        threading.Thread(target=run, daemon=True).start()

    result = watch_ray(settings, max_restarts=2, on_start=killer, drain_seconds=1.0, num_cpus=0.5)
    assert pids.get("after") and pids["after"] != pids["before"], "the killed actor was not restarted"
    killed, spared = people("killed"), people("spared")
    assert spared, "nobody was counted on the camera that was not killed"
    assert killed == spared  # none lost, none doubled
    assert len(set(killed)) == len(killed)
    with engine.connect() as conn:
        events = conn.execute(text("SELECT camera, track_id FROM events")).all()
    assert len(events) == len(set(events))
    assert sorted(t for c, t in events if c == "killed") == sorted(t for c, t in events if c == "spared")
    assert set(result.cameras) == {"killed", "spared"}
    engine.dispose()
