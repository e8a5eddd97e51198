"""``watch --ray``: two camera actors on the same video write one PostgreSQL database; one is
killed mid-run, Ray restarts it, and both end with the same people: none lost, none doubled.

The Ray part runs in a child process (``watch_kill_scenario.py``): if the Ray runtime itself
dies there, this test fails with Ray's logs, and the rest of the run goes on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from videos import make_video

pytest.importorskip("ray", reason="needs the [ray] extra: pip install 'maskwatch[ray]'")
SCENARIO = Path(__file__).with_name("watch_kill_scenario.py")


def _ray_logs() -> str:
    """The last lines of the newest Ray session's raylet and GCS logs."""
    logs = Path("/tmp/ray/session_latest/logs")
    tails = []
    for name in ("raylet.out", "raylet.err", "gcs_server.out", "gcs_server.err"):
        path = logs / name
        if path.exists():
            tails.append(f"--- {name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-15:]))
    return "\n".join(tails)


def test_killed_camera_actor_restarts_without_losing_or_doubling(tmp_path, val_images, pg_url):
    from sqlalchemy import create_engine, text

    video = make_video(val_images[20:26], tmp_path / "door.mp4", frames_each=8, fps=10.0)
    out = tmp_path / "result.json"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    done = subprocess.run(
        [sys.executable, str(SCENARIO), str(video), pg_url, str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0 and out.exists(), (
        f"the Ray scenario ended with exit code {done.returncode}\n--- stderr\n{done.stderr[-4000:]}\n{_ray_logs()}"
    )
    result = json.loads(out.read_text())
    assert result.get("after") and result["after"] != result["before"], "the killed actor was not restarted"
    assert result["cameras"] == ["killed", "spared"]

    engine = create_engine(pg_url)

    def people(camera: str) -> list[tuple[int, str]]:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT track_id, label FROM people WHERE camera = :c"), {"c": camera})
            return sorted((int(t), str(lbl)) for t, lbl in rows)

    killed, spared = people("killed"), people("spared")
    assert spared, "nobody was counted on the camera that was not killed"
    assert killed == spared  # none lost, none doubled
    assert len(set(killed)) == len(killed)
    with engine.connect() as conn:
        events = conn.execute(text("SELECT camera, track_id FROM events")).all()
    assert len(events) == len(set(events))
    assert sorted(t for c, t in events if c == "killed") == sorted(t for c, t in events if c == "spared")
    engine.dispose()
