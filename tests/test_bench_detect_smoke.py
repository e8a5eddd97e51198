"""benchmarks/bench_detect.py: the two-stage baseline and another model timed side by side,
and its tables (one small scene, one repeat: a smoke test, not a measurement)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_detect  # noqa: E402

ONEPASS = ROOT / "runs" / "speed" / "untrained-detector.onnx"


def test_parse_models_keeps_the_baseline_first_and_names_unique():
    models = bench_detect.parse_models(["a/det.onnx,b/det.onnx", "c.onnx"])
    assert [m.name for m in models] == ["two-stage", "det", "det#2", "c"]
    assert models[0].path == "two-stage" and models[3].path == "c.onnx"


def test_frames_and_tables(datasets):
    from maskwatch.models.classifier import default_model_path

    other = ONEPASS if ONEPASS.exists() else default_model_path()  # a one-pass file, else the baseline again
    models = bench_detect.parse_models([str(other)])
    rows = bench_detect.bench_frames("fast", 1, models, sizes=((320, 240),), face_counts=(1, 2), warmup=1)
    assert [(r["faces"], r["model"]) for r in rows] == [(f, m.name) for f in (1, 2) for m in models]
    assert all(r["frame_p50"] > 0 and r["frame_p99"] >= r["frame_p50"] for r in rows)
    assert rows[0]["ratio"] == 1.0
    # the baseline is the two-stage pipeline by name, whatever the default model is
    assert rows[0]["kind"] == "crop-classifier"
    videos = [
        {"profile": "fast", "stride": 1, "workers": 1, "threads": 2, "model": m.name, "fps": 20.0 * (k + 1),
         "realtime_ratio": 0.8 * (k + 1), "ratio": float(k + 1), "frames": 10, "seconds": 1.0}
        for k, m in enumerate(models)
    ]  # fmt: skip
    text = "\n".join(bench_detect.report(rows, videos, models))
    assert f"{models[1].name} / two-stage" in text
    assert "fast, 2 faces over 1 (frame p50): 320x240: two-stage " in text
    assert "| fast | 1 | 1 | 2 | 20.0 | 0.80 | 40.0 | 1.60 | 2.00 |" in text
