"""What one frame's faces cost as they travel: the columnar ``Detections`` against the list
of ``Face`` objects it replaced, side by side in one run, for 1, 5 and 20 faces.

    python benchmarks/bench_detections.py [--repeat 2000] [--out benchmarks/results-detections.md]

Per frame, from the models' arrays to the outputs: make the faces and drop those under
min_score, give them track ids (ByteTrack from ``trackers``), and write their JSON rows.
The old path is kept below as it was (``_old_*``), so the two are timed on the same
machine, in the same process, alternately. Also: what importing supervision would add to
every ``maskwatch detect`` (a fresh interpreter each, best of 5).
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


# --- the old path, as it was before the one-type refactor ---------------------------------
@dataclass(frozen=True)
class _OldFace:
    box: tuple
    label: str
    score: float
    face_score: float
    probs: dict
    landmarks: tuple | None = None
    track_id: int | None = None

    def to_dict(self) -> dict:
        x1, y1, x2, y2 = (round(v, 1) for v in self.box)
        out = {"x1": x1, "y1": y1, "x2": x2, "y2": y2, "label": self.label, "score": round(self.score, 4)}
        if self.landmarks is not None:
            out["landmarks"] = [[round(x, 1), round(y, 1)] for x, y in self.landmarks]
        return out


def _old_faces(boxes, face_scores, probs, landmarks, threshold):
    from maskwatch.labels import LABELS

    faces = []
    for box, fs, p, lm in zip(boxes, face_scores, probs, landmarks):
        k = int(p.argmax())
        score = float(fs * p[k])
        if score < threshold:
            continue
        faces.append(
            _OldFace(
                tuple(float(v) for v in box),
                LABELS[k],
                score,
                float(fs),
                {label: float(v) for label, v in zip(LABELS, p)},
                tuple((float(x), float(y)) for x, y in lm),
            )
        )
    faces.sort(key=lambda f: -f.score)
    return faces


def _old_track(tracker, sv, faces, t):
    if faces:
        dets = sv.Detections(
            xyxy=np.array([f.box for f in faces], np.float32),
            confidence=np.array([f.face_score for f in faces], np.float32),
            data={"index": np.arange(len(faces))},
        )
    else:
        dets = sv.Detections.empty()
        dets.data["index"] = np.zeros(0, int)
    tracked = tracker.update(dets, timestamp=t)
    ids = {}
    for index, track_id in zip(tracked.data.get("index", []), tracked.tracker_id):
        if track_id >= 0:
            ids[int(index)] = int(track_id)
    return [dataclasses.replace(f, track_id=ids.get(i)) for i, f in enumerate(faces)]


def _old_rows(source, faces, frame, t):
    rows = []
    for face in faces:
        row = {"image": source, "frame": frame, "t": round(t, 3)}
        if face.track_id is not None:
            row["track_id"] = face.track_id
        row.update(face.to_dict())
        rows.append(row)
    return rows


# --- the run ----------------------------------------------------------------------------
def model_outputs(n: int, rng) -> tuple:
    """Arrays as the face network and classifier give them for ``n`` faces on a row."""
    x = np.arange(n, dtype=np.float32) * 30 + 5
    boxes = np.stack([x, np.full(n, 50.0), x + 24, np.full(n, 80.0)], 1).astype(np.float32)
    scores = rng.uniform(0.4, 0.99, n).astype(np.float32)
    logits = rng.normal(size=(n, 3)).astype(np.float32)
    probs = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32)
    marks = (boxes[:, None, :2] + rng.uniform(0, 20, (n, 5, 2))).astype(np.float32)
    return boxes, scores, probs, marks


def time_frames(n: int, repeat: int) -> dict[str, list[float]]:
    import supervision as sv
    from trackers import ByteTrackTracker

    from maskwatch.detections import Detections, face_rows
    from maskwatch.tracking.tracker import FaceTracker

    rng = np.random.default_rng(n)
    outputs = model_outputs(n, rng)
    old_tracker = FaceTracker().tracker
    new_tracker = FaceTracker()
    assert isinstance(old_tracker, ByteTrackTracker)
    ms: dict[str, list[float]] = {"old": [], "new": []}
    for i in range(repeat):
        t = i / 25
        moved = (outputs[0] + (i % 5), *outputs[1:])
        t0 = time.perf_counter()
        faces = _old_faces(*moved, 0.3)
        faces = _old_track(old_tracker, sv, faces, t)
        old_rows = _old_rows("clip.mp4", faces, i, t)
        t1 = time.perf_counter()
        dets = Detections.from_scores(*moved).above(0.3)
        dets = new_tracker.update(dets, t)
        new_rows = face_rows(dets, "clip.mp4", i, t)
        t2 = time.perf_counter()
        if i == repeat - 1:
            assert new_rows == old_rows, "the two paths disagree"
        ms["old"].append(1000 * (t1 - t0))
        ms["new"].append(1000 * (t2 - t1))
    return ms


def import_seconds(module: str) -> float:
    best = float("inf")
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    for _ in range(5):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
        )
        best = min(best, float(out.stdout))
    return best


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    lines = [
        "| faces | old p50 ms | new p50 ms | old p99 ms | new p99 ms | new/old (p50) |",
        "|---|---|---|---|---|---|",
    ]
    for n in (1, 5, 20):
        ms = time_frames(n, args.repeat)
        o50, n50 = np.percentile(ms["old"], 50), np.percentile(ms["new"], 50)
        o99, n99 = np.percentile(ms["old"], 99), np.percentile(ms["new"], 99)
        lines.append(f"| {n} | {o50:.3f} | {n50:.3f} | {o99:.3f} | {n99:.3f} | {n50 / o50:.2f} |")
        print(lines[-1], flush=True)
    imports = {m: import_seconds(m) for m in ("maskwatch.detections", "supervision", "maskwatch.models.detector")}
    text = "\n".join(
        [
            "# Detections: the one type against the list of Face objects it replaced",
            "",
            f"`python benchmarks/bench_detections.py --repeat {args.repeat}`; per frame: make the faces and apply "
            "min_score, track (ByteTrack), write JSON rows; the old and new paths alternate in one process "
            "and are checked to give identical rows.",
            "",
            *lines,
            "",
            "Import time in a fresh interpreter (best of 5): "
            + ", ".join(f"`{m}` {1000 * s:.0f} ms" for m, s in imports.items()),
            "",
        ]
    )
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
