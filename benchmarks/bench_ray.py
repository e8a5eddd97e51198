"""Throughput of ``detect`` without Ray and with ``--ray`` (1 and 2 detector actors) on the
same images and video, in one run, on this machine; writes ``results-ray.md``.

    python benchmarks/bench_ray.py [--images 24] [--frames-each 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--frames-each", type=int, default=10)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results-ray.md"))
    args = parser.parse_args()

    import ray
    from videos import make_video

    from maskwatch import Detector
    from maskwatch.pipelines.detect import run_detect
    from maskwatch.scale.ray_batch import detect_ray
    from maskwatch.settings import DetectSettings

    data = Path(os.environ.get("MASKWATCH_DATASETS", ROOT.parent / "shared" / "datasets")) / "andrewmvd-facemask"
    stems = (data / "splits" / "val.txt").read_text().split()
    images = [data / "images" / f"{s}.jpg" for s in stems]
    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    folder, video_dir = work / "images", work / "video"
    folder.mkdir()
    video_dir.mkdir()
    for p in images[: args.images]:
        shutil.copy(p, folder / p.name)
    video = make_video(images[:6], video_dir / "clip.mp4", frames_each=args.frames_each, fps=10.0)
    n_frames = 6 * args.frames_each
    settings = DetectSettings.resolve()
    rows = []

    def timed(label, fn, units, unit):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        rows.append((label, unit, units, dt, units / dt))
        print(f"{label:<38} {units} {unit} in {dt:6.1f} s = {units / dt:5.2f} {unit}/s", flush=True)

    t0 = time.perf_counter()
    detector = Detector(threads=settings.threads)
    load = time.perf_counter() - t0
    timed(
        f"plain (model loaded: {load:.1f} s)",
        lambda: run_detect([str(folder)], settings, detector, warn=print),
        args.images,
        "images",
    )
    timed("plain", lambda: run_detect([str(video)], settings, detector, warn=print), n_frames, "frames")
    t0 = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    ray_init = time.perf_counter() - t0
    for workers in (1, 2):
        timed(
            f"ray, {workers} worker(s)",
            lambda w=workers: detect_ray([str(folder)], settings, workers=w),
            args.images,
            "images",
        )
        # the video in ranges of 2 s (20 frames) so that 2 workers share it
        timed(
            f"ray, {workers} worker(s), 2 s ranges",
            lambda w=workers: detect_ray([str(video)], settings, workers=w, chunk_seconds=2.0, overlap_seconds=0.5),
            n_frames,
            "frames",
        )
    ray.shutdown()
    shutil.rmtree(work, ignore_errors=True)

    lines = [
        "# detect with and without Ray (benchmarks/bench_ray.py)",
        "",
        f"Machine: {os.cpu_count()} cores (shared with other work while measured), profile "
        f"{settings.profile}; {args.images} andrewmvd val images; one {n_frames}-frame 640x480 video. "
        f"`ray.init` (local cluster start) took {ray_init:.1f} s, not counted below. Each Ray run "
        "includes starting its detector actors (each loads the model).",
        "",
        "| path | input | seconds | per second |",
        "|---|---|---:|---:|",
    ]
    lines += [f"| {label} | {units} {unit} | {dt:.1f} | {rate:.2f} |" for label, unit, units, dt, rate in rows]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
