"""`maskwatch detect` as users run it: real images and a real-image video, parsed outputs,
and every bad input giving one clear line while the rest goes on."""

import csv
import json
import shutil

import cv2
from test_images import png_bomb
from typer.testing import CliRunner
from videos import make_video

from maskwatch.cli import app

runner = CliRunner()


def _jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_folder_json_csv_and_annotated_images(val_images, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for p in val_images[:6]:
        shutil.copy(p, folder / p.name)
    res = runner.invoke(
        app,
        [
            "detect",
            str(folder),
            "--json",
            str(tmp_path / "f.jsonl"),
            "--csv",
            str(tmp_path / "f.csv"),
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert res.exit_code == 0, res.output
    rows = _jsonl(tmp_path / "f.jsonl")
    assert len(rows) >= 6
    assert {r["label"] for r in rows} <= {"with_mask", "without_mask", "mask_incorrect"}
    for r in rows:
        assert r["x1"] < r["x2"] and r["y1"] < r["y2"] and 0 <= r["score"] <= 1 and len(r["landmarks"]) == 5
        assert r["image"].startswith(str(folder))
    with open(tmp_path / "f.csv") as fh:
        csv_rows = list(csv.DictReader(fh))
    assert len(csv_rows) == len(rows)
    assert [float(r["x1"]) for r in csv_rows] == [r["x1"] for r in rows]
    annotated = sorted((tmp_path / "out").glob("*.jpg"))
    assert len(annotated) == 6 and cv2.imread(str(annotated[0])).shape == cv2.imread(str(val_images[0])).shape
    assert "6 file(s)" in res.output


def test_json_to_stdout(val_images):
    res = runner.invoke(app, ["detect", str(val_images[0]), "--json", "-", "-q"])
    assert res.exit_code == 0
    rows = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    assert rows and all(r["image"] == str(val_images[0]) for r in rows)


def test_video_frames_and_times(val_images, tmp_path):
    video = make_video(val_images[:4], tmp_path / "clip.mp4", frames_each=3, fps=10)
    res = runner.invoke(
        app,
        ["detect", str(video), "--json", str(tmp_path / "v.jsonl"), "--out", str(tmp_path / "out"), "--stride", "2"],
    )
    assert res.exit_code == 0, res.output
    rows = _jsonl(tmp_path / "v.jsonl")
    frames = sorted({r["frame"] for r in rows})
    assert frames and all(f % 2 == 0 for f in frames) and max(frames) <= 11
    assert all(abs(r["t"] - r["frame"] / 10) < 1e-6 for r in rows)
    out = cv2.VideoCapture(str(tmp_path / "out" / "clip.mp4"))
    assert int(out.get(cv2.CAP_PROP_FRAME_COUNT)) == 12  # every frame written, boxes carried over strides


def test_bad_inputs_are_reported_and_the_rest_goes_on(val_images, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(val_images[0], folder / "good.jpg")
    data = val_images[1].read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (folder / "empty.png").write_bytes(b"")
    (folder / "bomb.png").write_bytes(png_bomb(20000, 20000))
    (folder / "report.pdf").write_bytes(b"%PDF-1.4 not an image")
    (folder / "fake.jpg").write_text("hello")
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x13" * 500)
    (folder / "empty.avi").write_bytes(b"")
    video = make_video(val_images[:2], tmp_path / "v.mp4", frames_each=2)
    (folder / "truncated.mp4").write_bytes(video.read_bytes()[:2000])
    (folder / "notes.xml").write_text("<a/>")  # annotation files are passed over quietly
    res = runner.invoke(app, ["detect", str(folder), "--json", str(tmp_path / "m.jsonl")])
    assert res.exit_code == 1
    out = res.output
    for name, reason in [
        ("truncated.jpg", "truncated"),
        ("empty.png", "empty"),
        ("bomb.png", "exceeds the limit"),
        ("report.pdf", "not an image or video"),
        ("fake.jpg", "not an image"),
        ("broken.mp4", ""),
        ("empty.avi", ""),
        ("truncated.mp4", ""),
    ]:
        line = next((ln for ln in out.splitlines() if name in ln), None)
        assert line is not None, f"{name} not reported:\n{out}"
        assert reason in line
    assert "notes.xml" not in out
    rows = _jsonl(tmp_path / "m.jsonl")
    assert {r["image"] for r in rows} == {str(folder / "good.jpg")}


def test_missing_source_and_unwritable_output(val_images, tmp_path):
    res = runner.invoke(app, ["detect", str(tmp_path / "nope.jpg")])
    assert res.exit_code == 1 and "no such file" in res.output
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = runner.invoke(app, ["detect", str(val_images[0]), "--out", str(blocker / "sub")])
    assert res.exit_code == 2 and "cannot write" in res.output


def test_glob_source(val_images, tmp_path):
    for p in val_images[:3]:
        shutil.copy(p, tmp_path / p.name)
    res = runner.invoke(app, ["detect", str(tmp_path / "*.jpg"), "--json", str(tmp_path / "g.jsonl"), "-q"])
    assert res.exit_code == 0
    assert len({r["image"] for r in _jsonl(tmp_path / "g.jsonl")}) == 3
