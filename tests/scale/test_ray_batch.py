"""``detect --ray``: the same rows as the plain path, in the same order, from a Ray Data
pipeline on a local cluster; bad files reported the same way; long videos split into ranges
with nothing lost or doubled at the seams."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
from videos import make_video

from maskwatch.scale.ray_batch import video_ranges

pytest.importorskip("ray", reason="needs the [ray] extra: pip install 'maskwatch[ray]'")


@pytest.mark.parametrize(
    "count,fps,max_frames,chunk,overlap",
    [
        (0, 25, None, 1, 0.2),
        (10, 10, None, 1, 0.5),
        (95, 10, None, 1, 0.5),
        (1000, 30, None, 3, 1),
        (500, 25, 130, 1, 0.4),
    ],
)
def test_video_ranges_cover_every_frame_once(count, fps, max_frames, chunk, overlap):
    ranges = video_ranges(count, fps, max_frames, chunk, overlap)
    assert ranges[0][0] == 0 and ranges[0][2] == 0
    for (_, stop, _), (start, _, warm) in zip(ranges, ranges[1:]):
        assert stop == start and 0 <= warm <= start  # contiguous: no gap, no overlap of written frames
    assert ranges[-1][1] == (max_frames or -1)  # the last one reads to the end (or the cap)
    if count > (chunk * fps) * 1.5:
        assert len(ranges) > 1


@pytest.fixture(scope="module")
def folder(tmp_path_factory, val_images):
    root = tmp_path_factory.mktemp("ray-src")
    for p in val_images[:3]:
        shutil.copy(p, root / p.name)
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "notes.bin").write_bytes(b"\x00\x01 nothing")  # a stray file: skipped, not failed
    (root / "empty.mp4").write_bytes(b"")  # a video that cannot be opened: failed
    make_video(val_images[6:9], root / "clip.mp4", frames_each=3)
    return root


def _read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_ray_rows_equal_the_plain_path(ray_local, folder, tmp_path, detector):
    from maskwatch.pipelines.detect import run_detect
    from maskwatch.scale.ray_batch import detect_ray
    from maskwatch.settings import DetectSettings

    settings = DetectSettings.resolve()
    plain_warn, ray_warn = [], []
    plain = run_detect(
        [str(folder)], settings, detector, tmp_path / "plain.jsonl", tmp_path / "plain.csv", warn=plain_warn.append
    )
    got = detect_ray(
        [str(folder)],
        settings,
        workers=2,
        json_path=str(tmp_path / "ray.jsonl"),
        csv_path=str(tmp_path / "ray.csv"),
        parquet_path=str(tmp_path / "ray.parquet"),
        warn=ray_warn.append,
    )
    assert (tmp_path / "ray.jsonl").read_text() == (tmp_path / "plain.jsonl").read_text()
    assert (tmp_path / "ray.csv").read_text() == (tmp_path / "plain.csv").read_text()
    assert ray_warn == plain_warn and any("broken.jpg" in w for w in ray_warn)
    assert (got.files, got.frames, got.faces, got.failed, got.skipped) == (
        plain.files,
        plain.frames,
        plain.faces,
        plain.failed,
        plain.skipped,
    )
    assert {spec.rsplit("/", 1)[-1] for spec, _ in got.failed} == {"broken.jpg", "empty.mp4"}
    assert got.frames == 9

    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "ray.parquet").to_pylist()
    rows = _read(tmp_path / "ray.jsonl")
    assert len(table) == len(rows) > 0
    for a, b in zip(table, rows):
        assert {k: v for k, v in a.items() if v is not None} == b
    with (tmp_path / "ray.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == len(rows)


def test_long_video_split_at_seams_loses_and_doubles_nothing(ray_local, val_images, tmp_path, detector):
    """A 40-frame video in ranges of 1 s (10 frames) with 0.5 s of warm-up: every frame's
    faces exactly once, as the plain path finds them, and one track id per person."""
    from maskwatch.pipelines.detect import run_detect
    from maskwatch.scale.ray_batch import detect_ray, video_ranges
    from maskwatch.settings import DetectSettings

    video = make_video(val_images[10:14], tmp_path / "long.mp4", frames_each=10, fps=10.0)
    assert len(video_ranges(40, 10.0, None, 1.0, 0.5)) == 4
    settings = DetectSettings.resolve()
    plain = run_detect([str(video)], settings, detector, str(tmp_path / "plain.jsonl"), warn=lambda m: None)
    got = detect_ray(
        [str(video)], settings, json_path=str(tmp_path / "ray.jsonl"), chunk_seconds=1.0, overlap_seconds=0.5
    )
    assert got.frames == plain.frames == 40 and got.files == 1
    a, b = _read(tmp_path / "plain.jsonl"), _read(tmp_path / "ray.jsonl")

    def strip(rows):
        return [{k: v for k, v in r.items() if k != "track_id"} for r in rows]

    assert strip(b) == strip(a)  # every frame's faces, in order: none lost, none doubled
    # track ids: the same people, one id each across the seams (names may differ)
    pairs = {(ra.get("track_id"), rb.get("track_id")) for ra, rb in zip(a, b)}
    tracked = {(x, y) for x, y in pairs if x is not None or y is not None}
    assert len({x for x, _ in tracked}) == len({y for _, y in tracked}) == len(tracked)


def test_evaluate_on_ray_gives_the_plain_metrics(ray_local, andrewmvd, tmp_path):
    """`maskwatch evaluate --ray` (the CLI, on the local cluster) scores exactly what the plain
    path scores: the detections come from Ray actors, the metrics from the same code."""
    import json
    import shutil

    from typer.testing import CliRunner

    from maskwatch.cli import app

    subset = tmp_path / "subset"
    (subset / "images").mkdir(parents=True)
    (subset / "annotations").mkdir()
    stems = (andrewmvd / "splits" / "val.txt").read_text().split()[:6]
    for stem in stems:
        shutil.copy(andrewmvd / "images" / f"{stem}.jpg", subset / "images")
        shutil.copy(andrewmvd / "annotations" / f"{stem}.xml", subset / "annotations")
    args = ["evaluate", str(subset), "--profile", "balanced", "--classes", "3"]
    plain = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "plain")])
    on_ray = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "ray"), "--ray", "--ray-workers", "2"])
    assert plain.exit_code == 0 and on_ray.exit_code == 0, on_ray.output
    a, b = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("plain", "ray"))
    assert a["three_class"]["stats"] == b["three_class"]["stats"] and a["images"] == b["images"] == 6
    assert a["face_recall50"] == b["face_recall50"]
