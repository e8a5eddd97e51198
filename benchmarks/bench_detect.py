"""Per-frame latency (p50/p95/p99) per stage and whole-video throughput, for the two-stage
pipeline (CenterFace, then the crop classifier per face: always run, the baseline) and any
other model files given with ``--model`` (a one-pass detector: issue 13), side by side.

    python benchmarks/bench_detect.py [--repeat 60] [--profiles fast,balanced,accurate]
        [--model runs/speed/untrained-detector.onnx] [--out benchmarks/results.md]

Frames are 640x480 and 1280x720 scenes with 1, 5 and 20 real faces (crops from the shared
data sets pasted on a real street photo), so the face detector and classifier do real
work. Each model is warmed up, then the models are timed interleaved (one frame of each in
turn, the order alternating every repeat; the video runs likewise), so that whatever else
loads the machine weighs on every model alike. Printed per profile:

- per frame, excluding the JPEG decode (``frame``: detection, boxes and drawing), p50/p95/p99
  of each model and the ratio model / two-stage at p50;
- the stages: decode, then ``faces`` + ``classify`` (two-stage) or the network and its
  decoding as one stage (one-pass); ``detect`` is everything ``Detector.detect`` does; draw;
- what 20 faces cost over 1 face per frame (frame p50 at 20 faces minus at 1);
- a 640x480 25 FPS video with 5 faces through the real ``detect`` job (``run_detect``: decode
  thread, detection, tracker, JSON output), frames/s of each model and the ratio, with one
  inference worker and, where ``detect`` has ``--workers``, with two.

Run on an otherwise idle machine: the numbers are wall-clock times."""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MASKWATCH_DATASETS", ROOT.parent / "shared" / "datasets"))

BASELINE = "two-stage"
SIZES = ((640, 480), (1280, 720))
FACES = (1, 5, 20)
WARMUP = 3
PCTS = (50, 95, 99)
#: issue 13's targets for the one-pass detector (640x480, profile balanced)
TARGET_FRAME_MS = 8.0
TARGET_FACE_COST_MS = 1.0
TARGET_PROFILE = "balanced"


@dataclass(frozen=True)
class Model:
    """A model to time: ``path`` a model file or a shipped model's name (``--model``'s
    values); the baseline is named, not the default, which is no longer the two-stage
    pipeline."""

    name: str
    path: str


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
    """(p50, p99): kept for other benchmarks that import it."""
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def parse_models(values: list[str]) -> list[Model]:
    """The baseline, then each ``--model`` (repeatable, or comma-separated), named by file stem."""
    models = [Model(BASELINE, BASELINE)]
    for value in values:
        for path in filter(None, (p.strip() for p in value.split(","))):
            name, n = Path(path).stem, 2
            while any(m.name == name for m in models):
                name, n = f"{Path(path).stem}#{n}", n + 1
            models.append(Model(name, path))
    return models


def onnx_threads(det) -> int | None:
    """Intra-op threads of the detector's (first) ONNX session."""
    holder = det.onepass if getattr(det, "onepass", None) is not None else getattr(det, "faces", None)
    try:
        return int(holder.session.get_session_options().intra_op_num_threads)
    except AttributeError:
        return None


def warm_up(det, times: int = WARMUP) -> None:
    frame = scene(640, 480, 5)
    for _ in range(times):
        det.detect(frame)


def time_frame(det, jpeg: bytes) -> tuple[dict[str, float], int]:
    """One frame through ``det``, stage by stage: (ms per stage, faces drawn). ``detect`` is
    exactly what ``Detector.detect`` does (network(s), crops, classifier, box correction)."""
    from maskwatch.defaults import OUTPUT_MIN_SCORE
    from maskwatch.draw import annotate

    t0 = time.perf_counter()
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    t1 = time.perf_counter()
    if det.onepass is not None:
        found, probs = det.onepass(img)  # network + decoding: one stage
        t2 = t3 = None
    else:
        found = det.faces(img)
        t2 = time.perf_counter()
        probs = det.classifier.predict_crops(det.classifier.crops(img, found.boxes))
        t3 = time.perf_counter()
    faces = det.to_detections(img, found, probs)  # what Detector.detect returns
    t4 = time.perf_counter()
    shown = faces.above(OUTPUT_MIN_SCORE)
    annotate(img, shown)
    t5 = time.perf_counter()
    ms = {"decode": t1 - t0, "detect": t4 - t1, "draw": t5 - t4, "frame": t5 - t1, "total": t5 - t0}
    if t2 is not None:
        ms |= {"faces": t2 - t1, "classify": t3 - t2}
    return {k: v * 1000 for k, v in ms.items()}, len(shown)


def interleaved(count: int, i: int) -> list[int]:
    """The models' order in round ``i``: alternating, so neither always runs first."""
    order = list(range(count))
    return order if i % 2 == 0 else order[::-1]


def bench_frames(
    profile: str, repeat: int, models: list[Model], sizes=SIZES, face_counts=FACES, warmup: int = WARMUP
) -> list[dict]:
    from maskwatch import Detector

    dets = [Detector(m.path, profile=profile) for m in models]
    for det in dets:
        warm_up(det, warmup)
    rows = []
    for width, height in sizes:
        for n in face_counts:
            frame = scene(width, height, n)
            jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
            stages: list[dict[str, list[float]]] = [{} for _ in models]
            found = [0] * len(models)
            for i in range(warmup + repeat):
                for k in interleaved(len(models), i):
                    ms, found[k] = time_frame(dets[k], jpeg)
                    if i >= warmup:
                        for key, value in ms.items():
                            stages[k].setdefault(key, []).append(value)
            base = None
            for model, det, times, nfound in zip(models, dets, stages, found):
                row = {
                    "profile": profile,
                    "frame": f"{width}x{height}",
                    "faces": n,
                    "model": model.name,
                    "kind": det.kind,
                    "found": nfound,
                }
                for key, values in times.items():
                    for p in PCTS:
                        row[f"{key}_p{p}"] = float(np.percentile(values, p))
                row["fps"] = 1000 / row["total_p50"]
                base = base or row
                row["ratio"] = row["frame_p50"] / base["frame_p50"]
                rows.append(row)
                split = (
                    f"faces {row['faces_p50']:5.1f} + classify {row['classify_p50']:5.1f}"
                    if "faces_p50" in row
                    else f"detect {row['detect_p50']:5.1f}"
                )
                print(
                    f"{profile:9s} {width}x{height} faces {n:2d} {model.name:>20s} (found {nfound:2d}): "
                    f"frame p50 {row['frame_p50']:6.1f} p95 {row['frame_p95']:6.1f} p99 {row['frame_p99']:6.1f} ms "
                    f"(x{row['ratio']:.2f}) | {split} draw {row['draw_p50']:4.1f} | decode {row['decode_p50']:4.1f} "
                    f"total p50 {row['total_p50']:6.1f} = {row['fps']:5.1f} FPS",
                    flush=True,
                )
    return rows


def video_workers() -> tuple[int, ...] | None:
    """(1, 2) where ``detect`` can spread a video's frames over inference workers
    (``DetectSettings.workers``), else None: one frame at a time only."""
    from maskwatch import DetectSettings

    return (1, 2) if "workers" in DetectSettings.model_fields else None


def bench_video(profile: str, models: list[Model], seconds: int = 8, rounds: int = 1) -> list[dict]:
    """Whole-video throughput through the real `detect` job (decoding thread + inference),
    each model's detector made from the settings as ``maskwatch detect`` makes it; the best
    of ``rounds`` runs per cell, the models taking turns."""
    from maskwatch import DetectSettings, run_detect

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (640, 480))
        base = scene(640, 480, 5)
        for i in range(25 * seconds):
            writer.write(np.roll(base, i * 2, axis=1))
        writer.release()
        spread = video_workers()
        for workers in spread or (1,):
            extra = {"workers": workers} if spread else {}
            dets = [DetectSettings.resolve(model=m.path, profile=profile, **extra).detector() for m in models]
            for det in dets:
                warm_up(det)
            for stride in (1, 3):
                best: list[dict | None] = [None] * len(models)
                for i in range(rounds):
                    for k in interleaved(len(models), i):
                        settings = DetectSettings.resolve(model=models[k].path, profile=profile, stride=stride, **extra)
                        summary = run_detect(
                            [str(path)],
                            settings,
                            detector=dets[k],
                            json_path=str(Path(tmp) / "o.jsonl"),
                            progress=False,
                        )
                        fps = summary.frames / summary.seconds
                        if best[k] is None or fps > best[k]["fps"]:
                            best[k] = {"frames": summary.frames, "seconds": summary.seconds, "fps": fps}
                for model, det, run in zip(models, dets, best):
                    row = {
                        "profile": profile,
                        "stride": stride,
                        "workers": workers,
                        "threads": onnx_threads(det),
                        "model": model.name,
                        **run,
                        "realtime_ratio": run["fps"] / 25,
                        "ratio": run["fps"] / best[0]["fps"],
                    }
                    out.append(row)
                    print(
                        f"{profile:9s} video 640x480 25 FPS 5 faces, stride {stride}, workers {workers} "
                        f"(ONNX threads {row['threads']}) {model.name:>20s}: {row['fps']:6.1f} frames/s "
                        f"({row['realtime_ratio']:.2f}x real time, x{row['ratio']:.2f})",
                        flush=True,
                    )
    return out


# --- tables ------------------------------------------------------------------------------------
def _find(rows: list[dict], **match) -> dict | None:
    return next((r for r in rows if all(r[k] == v for k, v in match.items())), None)


def _scenes(rows: list[dict]) -> list[tuple[str, str, int]]:
    seen: list[tuple[str, str, int]] = []
    for r in rows:
        if (key := (r["profile"], r["frame"], r["faces"])) not in seen:
            seen.append(key)
    return seen


def frame_table(rows: list[dict], models: list[Model]) -> list[str]:
    """One row per (profile, frame, faces): each model's frame p50/p95/p99 (ms, excluding the
    JPEG decode) and, for every model but the baseline, its p50 over the baseline's."""
    head = ["profile", "frame", "faces"]
    for m in models:
        head += [f"{m.name} p50", "p95", "p99"] + ([] if m.name == BASELINE else [f"{m.name} / {BASELINE}"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for profile, frame, faces in _scenes(rows):
        cells = [profile, frame, str(faces)]
        for m in models:
            r = _find(rows, profile=profile, frame=frame, faces=faces, model=m.name)
            cells += [f"{r['frame_p50']:.1f}", f"{r['frame_p95']:.1f}", f"{r['frame_p99']:.1f}"]
            if m.name != BASELINE:
                cells.append(f"{r['ratio']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def stage_table(rows: list[dict]) -> list[str]:
    """Every (scene, model): the stages at p50, and the total with the decode (p50, p99, FPS)."""

    def cell(r: dict, key: str) -> str:
        return f"{r[key]:.1f}" if key in r else "-"

    lines = [
        "| profile | frame | faces | model | found | decode p50 | face det p50 | classify p50 | detect p50 | "
        "draw p50 | total p50 ms | total p99 ms | FPS (p50) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['profile']} | {r['frame']} | {r['faces']} | {r['model']} | {r['found']} | {cell(r, 'decode_p50')} | "
        f"{cell(r, 'faces_p50')} | {cell(r, 'classify_p50')} | {cell(r, 'detect_p50')} | {cell(r, 'draw_p50')} | "
        f"{r['total_p50']:.1f} | {r['total_p99']:.1f} | {r['fps']:.1f} |"
        for r in rows
    ]
    return lines


def face_costs(rows: list[dict], models: list[Model]) -> dict[tuple[str, str, str], float]:
    """(profile, frame, model) -> frame p50 at the most faces minus at the fewest (ms)."""
    lo, hi = min(r["faces"] for r in rows), max(r["faces"] for r in rows)
    out = {}
    for profile, frame, _ in _scenes(rows):
        for m in models:
            a = _find(rows, profile=profile, frame=frame, faces=lo, model=m.name)
            b = _find(rows, profile=profile, frame=frame, faces=hi, model=m.name)
            if a and b:
                out[profile, frame, m.name] = b["frame_p50"] - a["frame_p50"]
    return out


def cost_lines(rows: list[dict], models: list[Model]) -> list[str]:
    """A line per profile: what the most faces cost over the fewest, per frame size and model."""
    lo, hi = min(r["faces"] for r in rows), max(r["faces"] for r in rows)
    costs = face_costs(rows, models)
    lines = []
    for profile in dict.fromkeys(r["profile"] for r in rows):
        parts = []
        for frame in dict.fromkeys(r["frame"] for r in rows):
            each = ", ".join(f"{m.name} {costs[profile, frame, m.name]:+.1f} ms" for m in models)
            parts.append(f"{frame}: {each}")
        lines.append(f"- {profile}, {hi} faces over {lo} (frame p50): " + "; ".join(parts))
    return lines


def video_table(videos: list[dict], models: list[Model]) -> list[str]:
    head = ["profile", "stride", "workers", "ONNX threads"]
    for m in models:
        head += [f"{m.name} frames/s", "x real time"] + ([] if m.name == BASELINE else [f"{m.name} / {BASELINE}"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    keys = list(dict.fromkeys((v["profile"], v["stride"], v["workers"]) for v in videos))
    for profile, stride, workers in keys:
        cells = [profile, str(stride), str(workers)]
        same = [v for v in videos if (v["profile"], v["stride"], v["workers"]) == (profile, stride, workers)]
        cells.append("/".join(sorted({str(v["threads"]) for v in same})))
        for m in models:
            v = _find(videos, profile=profile, stride=stride, workers=workers, model=m.name)
            cells += [f"{v['fps']:.1f}", f"{v['realtime_ratio']:.2f}"]
            if m.name != BASELINE:
                cells.append(f"{v['ratio']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def target_lines(rows: list[dict], models: list[Model]) -> list[str]:
    """Issue 13's targets for each one-pass model, at 640x480 and the ``balanced`` profile."""
    costs = face_costs(rows, models)
    lines = []
    for m in models:
        mine = [r for r in rows if r["model"] == m.name and r["frame"] == "640x480" and r["profile"] == TARGET_PROFILE]
        if not mine or mine[0]["kind"] != "onepass-detector":
            continue
        worst = max(r["frame_p50"] for r in mine)
        each = ", ".join(f"{r['faces']} faces {r['frame_p50']:.1f}" for r in mine)
        cost = costs.get((TARGET_PROFILE, "640x480", m.name))
        lines.append(
            f"- {m.name}, {TARGET_PROFILE} 640x480: frame p50 {each} ms: "
            f"{'met' if worst <= TARGET_FRAME_MS else 'NOT met'} (target <= {TARGET_FRAME_MS:g} ms)"
            + (
                f"; 20 faces over 1 {cost:+.1f} ms: {'met' if cost <= TARGET_FACE_COST_MS else 'NOT met'} "
                f"(target <= +{TARGET_FACE_COST_MS:g} ms)"
                if cost is not None
                else ""
            )
        )
    return lines


def report(frames: list[dict], videos: list[dict], models: list[Model]) -> list[str]:
    kinds = {r["model"]: r["kind"] for r in frames}
    legend = "; ".join(
        f"`{m.name}`: {kinds.get(m.name, '?')} ({'shipped classifier + CenterFace' if m.path == BASELINE else m.path})"
        for m in models
    )
    lines = [
        f"Models: {legend}. Timed interleaved (one frame of each in turn), each warmed up first.",
        "",
        "Per frame, excluding the JPEG decode (detection, boxes, drawing), ms; ratios at p50:",
        "",
        *frame_table(frames, models),
        "",
        "Faces cost:",
        "",
        *cost_lines(frames, models),
    ]
    targets = target_lines(frames, models)
    if targets:
        lines += ["", "Issue 13 targets:", "", *targets]
    lines += [
        "",
        "Stages, ms (`detect`: all of `Detector.detect`; for the two-stage pipeline, face det + classify + "
        "boxes; total: decode + detect + draw):",
        "",
        *stage_table(frames),
    ]
    if videos:
        lines += [
            "",
            "Whole video (640x480, 25 FPS, 5 faces, `run_detect`: decode thread + detection + tracker + JSON "
            "output; best of the rounds):",
            "",
            *video_table(videos, models),
        ]
    return lines


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


def load_average() -> str:
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=60, help="timed frames per scene and model")
    parser.add_argument("--profiles", default="fast,balanced,accurate")
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="PATH",
        help="a model file to compare with the two-stage pipeline (repeatable, or comma-separated)",
    )
    parser.add_argument("--video-seconds", type=int, default=8, help="length of the test video (25 FPS)")
    parser.add_argument("--video-rounds", type=int, default=1, help="runs of each video cell; the fastest is kept")
    parser.add_argument("--no-video", action="store_true", help="per-frame figures only")
    parser.add_argument("--out", type=Path, default=None, help="write the tables as markdown to this file")
    args = parser.parse_args()
    if not DATA.exists():
        print(f"needs the shared data sets at {DATA}", file=sys.stderr)
        return 2
    from maskwatch.models.shipped import model_path

    models = parse_models(args.model)
    missing = [m.path for m in models if not model_path(m.path).exists()]
    if missing:
        print(f"no such model file: {', '.join(missing)}", file=sys.stderr)
        return 2
    load = load_average()
    print(f"{machine()}; load average {load}")
    frames, videos = [], []
    for profile in args.profiles.split(","):
        frames += bench_frames(profile, args.repeat, models)
        if not args.no_video:
            videos += bench_video(profile, models, args.video_seconds, args.video_rounds)
    lines = report(frames, videos, models)
    print()
    print("\n".join(lines))
    if args.out:
        command = shlex.join(["python", "benchmarks/bench_detect.py", *sys.argv[1:]])
        header = [
            f"# Detection benchmark ({time.strftime('%Y-%m-%d')})",
            "",
            f"Machine: {machine()}; load average {load} when it started.",
            "",
            f"Command: `{command}`",
            "",
        ]
        args.out.write_text("\n".join(header + lines) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
