"""What `watch` adds on top of detection, and what a camera costs.

    python benchmarks/bench_watch.py [--out benchmarks/results-watch.md] [--pg URL]

1. Tracking + counting per analysed frame with 1, 5 and 20 faces (p50/p99 ms), and its
   share of the detector's own time on the same frame.
2. Whole pipeline on a walk-by video (real faces): analysed frames/s for 1 and 2 cameras
   at once, per profile, and the slowdown ratio of the second camera.
3. Storing a violation (person + event + 2 JPEG snapshots + outbox row, one transaction):
   p50/p99 ms on SQLite (WAL, synchronous=FULL) and PostgreSQL when --pg is given.
Wall-clock figures: run on an otherwise idle machine."""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import resource
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MASKWATCH_DATASETS", ROOT.parent / "shared" / "datasets"))
sys.path.insert(0, str(Path(__file__).parent))
from bench_detect import percentiles, scene  # noqa: E402


def bench_tracking(det, repeat: int) -> list[str]:
    from maskwatch.tracking.counting import PeopleCounter
    from maskwatch.tracking.tracker import FaceTracker

    lines = ["| faces | detect p50 ms | track+count p50 ms | p99 ms | share of detect |", "|---|---|---|---|---|"]
    for n in (1, 5, 20):
        frame = scene(640, 480, n)
        faces = det.detect(frame).above(0.3)
        detect_ms = []
        for _ in range(10):
            t0 = time.perf_counter()
            det.detect(frame)
            detect_ms.append(1000 * (time.perf_counter() - t0))
        tracker, counter = FaceTracker(), PeopleCounter()
        ms = []
        for i in range(repeat):
            moved = dataclasses.replace(faces, xyxy=faces.xyxy + 2 * (i % 5))
            t0 = time.perf_counter()
            tracked = tracker.update(moved, i / 10)
            counter.update(tracked, frame, i / 10)
            ms.append(1000 * (time.perf_counter() - t0))
        p50, p99 = percentiles(ms)
        d50 = percentiles(detect_ms)[0]
        lines.append(f"| {len(faces)} | {d50:.1f} | {p50:.2f} | {p99:.2f} | {100 * p50 / d50:.1f}% |")
    return lines


def bench_pipeline(video: str, profiles: list[str], models: list[str]) -> list[str]:
    from maskwatch.events.store import EventStore
    from maskwatch.models.detector import Detector
    from maskwatch.pipelines.watch import run_watch
    from maskwatch.settings import WatchSettings

    lines = [
        "| model | profile | cameras | analysed frames/s per camera | all cameras | ratio to 1 camera |",
        "|---|---|---|---|---|---|",
    ]
    for profile, model in ((p, m) for p in profiles for m in models):
        det = Detector(model, profile=profile)
        base = None
        for n in (1, 2):
            with tempfile.TemporaryDirectory() as tmp:
                store = EventStore(f"sqlite:///{tmp}/b.db")
                cfg = WatchSettings.resolve({"cameras": [{"name": f"c{i}", "source": video} for i in range(n)]})
                result = run_watch(cfg, det, store, install_signals=False)
                frames = sum(s.analysed for s in result.cameras.values())
                per_camera = frames / n / result.seconds
                base = base or per_camera
                lines.append(
                    f"| {model} | {profile} | {n} | {per_camera:.1f} | {frames / result.seconds:.1f} "
                    f"| {per_camera / base:.2f} |"
                )
                store.close()
    return lines


def bench_store(urls: dict[str, str], repeat: int) -> list[str]:
    import cv2

    from maskwatch.events.store import EventStore, PersonRecord

    frame = scene(640, 480, 5)
    face = cv2.imencode(".jpg", frame[:150, :150])[1].tobytes()
    full = cv2.imencode(".jpg", frame)[1].tobytes()
    lines = ["| database | store a violation p50 ms | p99 ms |", "|---|---|---|"]
    for name, url in urls.items():
        store = EventStore(url)
        ms = []
        for i in range(repeat):
            now = datetime.utcnow()
            rec = PersonRecord("bench", "run", i, "without_mask", 0.9, 10, now, now, (1, 2, 3, 4), face, full)
            t0 = time.perf_counter()
            store.record(rec, ["webhook"])
            ms.append(1000 * (time.perf_counter() - t0))
        p50, p99 = percentiles(ms)
        lines.append(f"| {name} | {p50:.2f} | {p99:.2f} |")
        store.close()
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results-watch.md"))
    ap.add_argument("--repeat", type=int, default=300)
    ap.add_argument("--pg", default=os.environ.get("MASKWATCH_TEST_PG_URL"))
    ap.add_argument(
        "--models", default="two-stage,one-pass", help="models whose whole pipeline is timed, side by side in one run"
    )
    args = ap.parse_args()
    from maskwatch.data.walkby import make_walkby
    from maskwatch.formats import load_dataset
    from maskwatch.models.detector import Detector

    det = Detector()
    tmp = Path(tempfile.mkdtemp())
    video = tmp / "walk.mp4"
    sources = [load_dataset(DATA / "crops" / "maskedfacenet"), load_dataset(DATA / "crops" / "chandrikadeb7")]
    truth = make_walkby(sources, video, {"with_mask": 3, "without_mask": 3, "mask_incorrect": 3}, detector=det)
    urls = {"SQLite (WAL, FULL)": f"sqlite:///{tmp}/store.db"}
    if args.pg:
        urls["PostgreSQL 15 (loopback)"] = args.pg
    out = [
        "# watch benchmarks",
        "",
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"`python benchmarks/bench_watch.py`",
        "",
        f"## Tracking and counting per analysed frame (640x480, {det.model_version}; faces found in the scene)",
        "",
        *bench_tracking(det, args.repeat),
        "",
        f"## Whole pipeline on a walk-by video (640x480, 9 people, {truth['frames']} frames)",
        "",
        *bench_pipeline(str(video), ["balanced", "fast"], args.models.split(",")),
        "",
        "## Storing one violation (one transaction)",
        "",
        *bench_store(urls, min(args.repeat, 200)),
        "",
        f"Peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB",
    ]
    text = "\n".join(out) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
