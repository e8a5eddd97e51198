"""Per-frame latency (p50/p99) and FPS per stage, and whole-video throughput.

    python benchmarks/bench_detect.py [--repeat 60] [--out benchmarks/results.md]

Frames are 640x480 and 1280x720 scenes with 1, 5 and 20 real faces (crops from the shared
data sets pasted on a real street photo), so the face detector and classifier do real
work. Run on an otherwise idle machine: the numbers are wall-clock times."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MASKWATCH_DATASETS", ROOT.parent / "shared" / "datasets"))


def scene(width: int, height: int, faces: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    background = cv2.imread(str(DATA / "andrewmvd-facemask" / "images" / "maksssksksss100.jpg"))
    frame = cv2.resize(cv2.GaussianBlur(background, (31, 31), 0), (width, height))
    crops = sorted((DATA / "crops" / "chandrikadeb7").rglob("*.jpg"))
    cols = int(np.ceil(np.sqrt(faces * width / height)))
    rows = int(np.ceil(faces / cols))
    cell = min(width // cols, height // rows)
    side = int(cell * 0.8)
    for i in range(faces):
        face = cv2.imread(str(crops[int(rng.integers(len(crops)))]))
        r, c = divmod(i, cols)
        y, x = r * cell + (cell - side) // 2, c * cell + (cell - side) // 2
        frame[y : y + side, x : x + side] = cv2.resize(face, (side, side))
    return frame


def percentiles(ms: list[float]) -> tuple[float, float]:
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def bench_frames(profile: str, repeat: int) -> list[dict]:
    from maskwatch import Detections, Detector
    from maskwatch.draw import annotate

    det = Detector(profile=profile)
    rows = []
    for width, height in ((640, 480), (1280, 720)):
        for n in (1, 5, 20):
            frame = scene(width, height, n)
            jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
            stages: dict[str, list[float]] = {"decode": [], "faces": [], "classify": [], "draw": [], "total": []}
            found = 0
            for i in range(repeat + 3):
                t0 = time.perf_counter()
                img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
                t1 = time.perf_counter()
                boxes = det.faces(img)
                t2 = time.perf_counter()
                probs = det.classifier.predict_crops(det.classifier.crops(img, boxes.boxes))
                t3 = time.perf_counter()
                faces = Detections.from_scores(boxes.boxes, boxes.scores, probs, boxes.landmarks).above(0.3)
                annotate(img, faces)
                t4 = time.perf_counter()
                if i < 3:
                    continue  # warm-up
                found = len(faces)
                for key, dt in (
                    ("decode", t1 - t0),
                    ("faces", t2 - t1),
                    ("classify", t3 - t2),
                    ("draw", t4 - t3),
                    ("total", t4 - t0),
                ):
                    stages[key].append(dt * 1000)
            row = {"profile": profile, "frame": f"{width}x{height}", "faces": n, "found": found}
            for key, values in stages.items():
                row[f"{key}_p50"], row[f"{key}_p99"] = percentiles(values)
            row["fps"] = 1000 / row["total_p50"]
            rows.append(row)
            print(
                f"{profile:9s} {width}x{height} faces {n:2d} (found {found:2d}): total p50 {row['total_p50']:6.1f} ms "
                f"p99 {row['total_p99']:6.1f} ms = {row['fps']:5.1f} FPS | faces p50 {row['faces_p50']:5.1f} "
                f"classify p50 {row['classify_p50']:5.1f} decode {row['decode_p50']:4.1f} draw {row['draw_p50']:4.1f}",
                flush=True,
            )
    return rows


def bench_video(profile: str, seconds: int = 8) -> list[dict]:
    """Whole-video throughput through the real `detect` job (decoding thread + inference)."""
    import tempfile

    from maskwatch import Detector, DetectSettings, run_detect

    det = Detector(profile=profile)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (640, 480))
        base = scene(640, 480, 5)
        for i in range(25 * seconds):
            writer.write(np.roll(base, i * 2, axis=1))
        writer.release()
        for stride in (1, 3):
            settings = DetectSettings.resolve(profile=profile, stride=stride)
            summary = run_detect(
                [str(path)], settings, detector=det, json_path=str(Path(tmp) / "o.jsonl"), progress=False
            )
            fps = summary.frames / summary.seconds
            out.append(
                {
                    "profile": profile,
                    "stride": stride,
                    "frames": summary.frames,
                    "seconds": summary.seconds,
                    "fps": fps,
                    "realtime_ratio": fps / 25,
                }
            )
            print(
                f"{profile:9s} video 640x480 25 FPS, stride {stride}: {fps:6.1f} frames/s ({fps / 25:.2f}x real time)",
                flush=True,
            )
    return out


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import onnxruntime

    return (
        f"{cpu}, {os.cpu_count()} logical cores, Python {platform.python_version()}, "
        f"onnxruntime {onnxruntime.__version__}, OpenCV {cv2.__version__}"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=60)
    parser.add_argument("--profiles", default="fast,balanced,accurate")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if not DATA.exists():
        print(f"needs the shared data sets at {DATA}", file=sys.stderr)
        return 2
    print(machine())
    frames, videos = [], []
    for profile in args.profiles.split(","):
        frames += bench_frames(profile, args.repeat)
        videos += bench_video(profile)
    if args.out:
        lines = [
            f"# Detection benchmark ({time.strftime('%Y-%m-%d')})",
            "",
            f"Machine: {machine()}",
            "",
            f"Command: `python benchmarks/bench_detect.py --repeat {args.repeat} --out {args.out}`",
            "",
            "| profile | frame | faces | found | total p50 ms | total p99 ms | FPS (p50) | face det p50 | "
            "classify p50 | decode p50 | draw p50 |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['profile']} | {r['frame']} | {r['faces']} | {r['found']} | {r['total_p50']:.1f} | "
            f"{r['total_p99']:.1f} | {r['fps']:.1f} | {r['faces_p50']:.1f} | {r['classify_p50']:.1f} | "
            f"{r['decode_p50']:.1f} | {r['draw_p50']:.1f} |"
            for r in frames
        ]
        lines += [
            "",
            "Whole video (640x480, 25 FPS, 5 faces, decode thread + detection + JSON output):",
            "",
            "| profile | stride | frames | frames/s | x real time |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {v['profile']} | {v['stride']} | {v['frames']} | {v['fps']:.1f} | {v['realtime_ratio']:.2f} |"
            for v in videos
        ]
        args.out.write_text("\n".join(lines) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
