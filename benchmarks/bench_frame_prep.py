"""A frame's way into the network, before and after ``shrink``: ``fit_blob`` (resize to the
profile's size, pad, RGB planes as float) and the whole ``Detector.detect`` on the one-pass
default, the old and the new side by side in one run, per frame size and profile.

    python benchmarks/bench_frame_prep.py [--repeat 40] [--append benchmarks/results.md]

*Before* is the code up to 0.4.2's release: OpenCV's INTER_AREA straight to the network size
(its slow general path when the factor is not whole) and a strided NumPy copy to float planes.
*After* is :func:`maskwatch.models.face_detector.fit_blob` today: exact 2x2 averages while the
frame is twice the size or more, then bilinear to twice the size and one 2x2 average (close to
INTER_AREA: mean difference 0.2-0.6 grey levels), planes written by ``cv2.split``. The frames are
real photos (webmask-yolo) resized to each size. Each cell times the two sides interleaved, so
a load that comes and goes hits both alike; p50 and p99 in ms, and after / before."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MASKWATCH_DATASETS", ROOT.parent / "shared" / "datasets"))
sys.path.insert(0, str(Path(__file__).parent))
from bench_detect import machine  # noqa: E402

SIZES = ((640, 480), (1280, 720), (1920, 1080))
PROFILES = ("fast", "balanced", "accurate")


def fit_blob_before(image_bgr: np.ndarray, profile) -> tuple[np.ndarray, float]:
    """``fit_blob`` as it was (INTER_AREA in one step, NumPy's strided float copy), at the
    same sizes (``blob_size``)."""
    from maskwatch.models.face_detector import blob_size

    scale, (w, h), (rw, rh) = blob_size(image_bgr, profile)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image_bgr, (rw, rh), interpolation=interp)
    canvas = np.zeros((h, w, 3), np.uint8)
    canvas[:rh, :rw] = resized[:h, :w]
    return canvas[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32), scale


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(1000 * (time.perf_counter() - t))
    return out


def pair(before, after, repeat: int) -> tuple[list[float], list[float]]:
    """Both sides, interleaved call by call, after 3 warm-up calls each."""
    for _ in range(3):
        before(), after()
    a, b = [], []
    for _ in range(repeat):
        a += timed(before, 1)
        b += timed(after, 1)
    return a, b


def measure(detector, frames: list[np.ndarray], profile, repeat: int) -> tuple[list, list]:
    """(fit_blob before/after, detect before/after): ms per frame of each round."""
    import maskwatch.models.face_detector as fd
    import maskwatch.models.onepass as onepass

    prep = pair(
        lambda: [fit_blob_before(f, profile) for f in frames],
        lambda: [fd.fit_blob(f, profile) for f in frames],
        repeat,
    )

    def detect_with(fit):
        def run():
            onepass.fit_blob = fit
            try:
                for f in frames:
                    detector.detect(f)
            finally:
                onepass.fit_blob = fd.fit_blob

        return run

    whole = pair(detect_with(fit_blob_before), detect_with(fd.fit_blob), max(5, repeat // 4))
    return [[t / len(frames) for t in side] for side in prep], [[t / len(frames) for t in side] for side in whole]


def cell(times: list[float]) -> str:
    return f"{np.percentile(times, 50):.2f} ({np.percentile(times, 99):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--append", type=Path, help="append the table to this Markdown file")
    args = parser.parse_args()

    from maskwatch.models.detector import Detector
    from maskwatch.models.face_detector import PROFILES as SIZED

    photos = sorted((DATA / "webmask-yolo").rglob("*.jpg"))[:4]
    if not photos:
        sys.exit(f"no webmask-yolo photos under {DATA}")
    rows = []
    for profile in PROFILES:
        detector = Detector(profile=profile)
        for width, height in SIZES:
            frames = [cv2.resize(cv2.imread(str(p)), (width, height)) for p in photos]
            prep, whole = measure(detector, frames, SIZED[profile], args.repeat)
            rows.append(
                f"| {profile} | {width}x{height} | {cell(prep[0])} | {cell(prep[1])} | "
                f"{np.median(prep[1]) / np.median(prep[0]):.2f} | {cell(whole[0])} | {cell(whole[1])} | "
                f"{np.median(whole[1]) / np.median(whole[0]):.2f} |"
            )
            print(rows[-1], flush=True)
    table = "\n".join(
        [
            f"Machine: {machine()}; {args.repeat} rounds of {len(photos)} frames; ms per frame, p50 (p99).",
            "",
            "| profile | frame | fit_blob before | fit_blob after | after / before "
            "| detect before | detect after | after / before |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    print(table)
    if args.append:
        with args.append.open("a") as out:
            out.write(f"\n## A frame's way into the network: shrink ({time.strftime('%Y-%m-%d')})\n\n")
            out.write("`python benchmarks/bench_frame_prep.py`\n\n" + table + "\n")


if __name__ == "__main__":
    main()
