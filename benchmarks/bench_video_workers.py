"""Frames of a video spread over inference threads: frames/s and per-frame latency through
``FramePipeline`` for workers x ONNX Runtime threads, per profile.

    python benchmarks/bench_video_workers.py [--frames 60] [--rounds 3] [--profiles fast,balanced]
        [--append benchmarks/results.md]

The video is 640x480 at 25 FPS with 5 real faces (crops from the shared data sets pasted on a
real street photo, ``bench_detect.scene``), moving a little every frame, decoded by the real
``FrameReader``, tracked by the real tracker: what ``detect`` and ``watch`` run, without the
writers. ``threads`` is the ONNX Runtime intra-op threads of the detector's sessions, which the
workers share (one thread-safe Detector); today's default is every core (2 here) and one
worker. Latency is from the pipeline taking a frame from the reader to the consumer getting
its result; a file is read as fast as it decodes, so with more workers it includes the wait in
the read-ahead queue (a live source slower than the pipeline has no such wait). CPU ms per
frame (the process's user + system time) shows the cost of each setting even where other work
shares the cores. Each cell is run once per round (``--rounds``, one round after the other)
and its best round is kept, so a load that comes and goes hits every cell alike.
Wall-clock figures: run on an otherwise idle machine."""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MASKWATCH_DATASETS", ROOT.parent / "shared" / "datasets"))
sys.path.insert(0, str(Path(__file__).parent))
from bench_detect import machine, scene  # noqa: E402

WORKERS = (1, 2, 3)
THREADS = (1, 2)
BASELINE = (1, 2)  # (workers, threads): today's default on 2 cores


def make_clip(path: Path, frames: int) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (640, 480))
    base = scene(640, 480, 5)
    for i in range(frames):
        writer.write(np.roll(base, 2 * i, axis=1))
    writer.release()
    return path


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_cell(detector, clip: Path, workers: int, frames: int) -> dict:
    """One pass over ``frames`` frames of ``clip``: frames/s and per-frame latency."""
    from maskwatch.pipelines.frames import FramePipeline
    from maskwatch.pipelines.sources import FrameReader
    from maskwatch.tracking.tracker import FaceTracker

    taken: dict[int, float] = {}
    latency: list[float] = []

    def timed(reader):
        for frame in reader:
            taken[frame.index] = time.perf_counter()
            yield frame

    reader = FrameReader(str(clip))
    pipeline = FramePipeline(detector, 0.3, tracker=FaceTracker(), max_frames=frames, workers=workers)
    faces = 0
    try:
        cpu0 = _cpu()
        t0 = time.perf_counter()
        for result in pipeline.run(timed(reader)):
            latency.append(1000 * (time.perf_counter() - taken.pop(result.frame.index)))
            faces += len(result.detections)
        seconds = time.perf_counter() - t0
        cpu = _cpu() - cpu0
    finally:
        reader.close()
    return {
        "fps": len(latency) / seconds,
        "p50": float(np.percentile(latency, 50)),
        "p95": float(np.percentile(latency, 95)),
        "frames": len(latency),
        "cpu_ms": 1000 * cpu / max(1, len(latency)),
        "faces": faces / max(1, len(latency)),
    }


def bench(profiles: list[str], frames: int, rounds: int) -> list[dict]:
    """Every cell once per round, the rounds one after the other (a load that comes and goes
    on a shared machine hits every cell alike); the best round of each cell is kept."""
    from maskwatch import Detector

    detectors = {}
    warm = scene(640, 480, 5)
    for profile in profiles:
        for threads in THREADS:
            detectors[profile, threads] = det = Detector(profile=profile, threads=threads)
            for _ in range(3):
                det.detect(warm)
    cells: dict[tuple, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "clip.mp4", frames)
        for n in range(1, rounds + 1):
            for (profile, threads), det in detectors.items():
                for workers in WORKERS:
                    r = run_cell(det, clip, workers, frames)
                    key = (profile, workers, threads)
                    if key not in cells or r["fps"] > cells[key]["fps"]:
                        cells[key] = r
                    print(
                        f"round {n} {profile:9s} workers {workers} threads {threads}: {r['fps']:5.1f} frames/s, "
                        f"p50 {r['p50']:6.1f} ms, p95 {r['p95']:6.1f} ms, CPU {r['cpu_ms']:5.1f} ms/frame "
                        f"({r['faces']:.1f} faces/frame)",
                        flush=True,
                    )
    rows = []
    for (profile, workers, threads), r in cells.items():
        base = cells[(profile, *BASELINE)]["fps"]
        rows.append({"profile": profile, "workers": workers, "threads": threads, "ratio": r["fps"] / base, **r})
    return rows


def table(rows: list[dict]) -> list[str]:
    lines = [
        "| profile | workers | ONNX threads | frames/s | vs workers 1 / threads 2 (today) | latency p50 ms | p95 ms "
        "| CPU ms/frame |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["profile"] != "fast", r["workers"], r["threads"])):
        today = " (today)" if (r["workers"], r["threads"]) == BASELINE else ""
        lines.append(
            f"| {r['profile']} | {r['workers']} | {r['threads']}{today} | {r['fps']:.1f} | {r['ratio']:.2f} | "
            f"{r['p50']:.1f} | {r['p95']:.1f} | {r['cpu_ms']:.1f} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=60, help="frames per cell")
    parser.add_argument("--rounds", type=int, default=3, help="runs per cell; the fastest is kept")
    parser.add_argument("--profiles", default="fast,balanced")
    parser.add_argument("--append", type=Path, default=None, help="append the table as a section of this file")
    args = parser.parse_args()
    if not DATA.exists():
        print(f"needs the shared data sets at {DATA}", file=sys.stderr)
        return 2
    print(machine())
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rows = bench(args.profiles.split(","), args.frames, args.rounds)
    lines = table(rows)
    end_load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print("\n".join(lines))
    if args.append:
        command = (
            f"python benchmarks/bench_video_workers.py --frames {args.frames} --rounds {args.rounds} "
            f"--profiles {args.profiles} --append {args.append}"
        )
        section = [
            "",
            f"## Video frames spread over workers ({time.strftime('%Y-%m-%d')})",
            "",
            f"Machine: {machine()}; load average {load:.2f} when it started, {end_load:.2f} when it ended.",
            "",
            f"Command: `{command}`",
            "",
            "640x480 video, 25 FPS, 5 real faces, decoded by `FrameReader` and run through `FramePipeline` "
            f"with the tracker, {args.frames} frames a cell, best of {args.rounds} rounds. `ONNX threads`: "
            "intra-op threads of the detector's sessions, shared by the workers. Latency: from the pipeline "
            "taking a frame from the reader to the consumer getting its result (on a file read as fast as it "
            "decodes, it includes the wait in the read-ahead). CPU ms/frame: the process's user + system time.",
            "",
            *lines,
        ]
        with args.append.open("a") as fh:
            fh.write("\n".join(section) + "\n")
        print(f"appended to {args.append}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
