"""The Ray side of ``test_ray_watch``, run in a child process: two camera actors on one
video write one PostgreSQL database; the one named "killed" is killed once it has stored a
person, and must come back. Writes {"before": pid, "after": pid, "cameras": [...]} as JSON.

It runs apart from pytest so that a Ray runtime that dies (raylet or GCS lost, which ends
its driver process) fails this one test with Ray's own logs instead of ending the whole run.

    python watch_kill_scenario.py VIDEO DATABASE_URL OUT_JSON
"""

from __future__ import annotations

import json
import sys
import threading
import time


def main(video: str, url: str, out: str) -> int:
    import ray
    from sqlalchemy import create_engine, text

    from maskwatch.scale.ray_watch import watch_ray
    from maskwatch.settings import WatchSettings

    settings = WatchSettings.resolve(
        {
            "cameras": [{"name": "killed", "source": video}, {"name": "spared", "source": video}],
            "database": url,
            "counting": {"min_frames": 3, "decide_after": 2.0},
        }
    )
    engine = create_engine(url)
    pids: dict = {}
    threads: list[threading.Thread] = []

    def stored(camera: str) -> bool:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM people WHERE camera = :c"), {"c": camera}).scalar() > 0

    def killer(actors):
        def run():
            actor = actors["killed"]
            pids["before"] = ray.get(actor.status.remote())["pid"]
            deadline = time.monotonic() + 60
            while not stored("killed") and time.monotonic() < deadline:  # one person stored, the rest not
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

        thread = threading.Thread(target=run, daemon=True)
        threads.append(thread)
        thread.start()

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        result = watch_ray(settings, max_restarts=2, on_start=killer, drain_seconds=1.0, num_cpus=0.5)
        for thread in threads:
            thread.join(timeout=120)  # before Ray goes down under it
    finally:
        ray.shutdown()
        engine.dispose()
    with open(out, "w") as f:
        json.dump({**pids, "cameras": sorted(result.cameras)}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
