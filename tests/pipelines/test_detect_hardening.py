"""`maskwatch detect` against hostile and unlucky input (issue 10): names that are not UTF-8,
huge files, full disks, outputs that cannot be written, streams that never answer, files cut
short. Crashes are checked in real processes: a segfault would take pytest down with it."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
from typer.testing import CliRunner
from videos import make_video

from maskwatch.cli import app
from maskwatch.detections import Detections
from maskwatch.draw import annotate

runner = CliRunner()
ODD = b"\xff\xfe"  # bytes that are no UTF-8: Python keeps them as surrogates


def _odd(folder: Path, stem: str, suffix: str) -> Path:
    return folder / os.fsdecode(stem.encode() + ODD + suffix.encode())


def _maskwatch(*args, limit_bytes: int | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """The CLI in its own process; ``limit_bytes``: no file it writes may grow larger (a full disk)."""
    code = "import sys; from maskwatch.cli import app; sys.argv[0] = 'maskwatch'; app()"
    if limit_bytes is not None:
        code = (
            "import resource, signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit_bytes}, {limit_bytes})); " + code
        )
    return subprocess.run(
        [sys.executable, "-c", code, *map(os.fspath, args)],
        capture_output=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
    )


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _err(res: subprocess.CompletedProcess) -> str:
    return res.stderr.decode("utf-8", "replace")


# --- 1, 2: names that are not UTF-8 ---------------------------------------------------------
def test_non_utf8_names_do_not_crash_detect(val_images, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    image = _odd(folder, "img", ".jpg")
    shutil.copy(val_images[0], image)
    shutil.copy(val_images[1], folder / "plain.jpg")
    video = make_video(val_images[2:4], tmp_path / "v.mp4", frames_each=2)
    os.rename(video, _odd(folder, "clip", ".mp4"))
    out = tmp_path / "out"
    res = _maskwatch("detect", folder, "--json", tmp_path / "f.jsonl", "--csv", tmp_path / "f.csv", "--out", out)
    assert res.returncode == 0, _err(res)  # was -11 (SIGSEGV) in OpenCV, then UnicodeEncodeError in CSV
    rows = _jsonl(tmp_path / "f.jsonl")
    names = {os.fsencode(r["image"]) for r in rows}  # JSON escapes the bytes; they come back exactly
    assert os.fsencode(image) in names and os.fsencode(folder / "plain.jpg") in names
    assert any(r.get("frame") is not None for r in rows)  # the video was read
    csv_rows = list(csv.DictReader(io.StringIO((tmp_path / "f.csv").read_bytes().decode("utf-8", "surrogateescape"))))
    assert len(csv_rows) == len(rows) and os.fsencode(image) in {os.fsencode(r["image"]) for r in csv_rows}
    written = {os.fsencode(p.name) for p in out.iterdir()}
    assert written == {b"img" + ODD + b".jpg", b"plain.jpg", b"clip" + ODD + b".mp4"}
    clip = cv2.VideoCapture(f"/proc/self/fd/{os.open(out / os.fsdecode(b'clip' + ODD + b'.mp4'), os.O_RDONLY)}")
    assert int(clip.get(cv2.CAP_PROP_FRAME_COUNT)) == 4


def test_non_utf8_video_does_not_crash_watch(val_images, tmp_path):
    video = make_video(val_images[:2], tmp_path / "v.mp4", frames_each=3)
    odd = _odd(tmp_path, "cam", ".mp4")
    os.rename(video, odd)
    res = _maskwatch("watch", odd, "--database", f"sqlite:///{tmp_path / 'w.db'}", "-q")
    assert res.returncode == 0, _err(res)  # was -11 (SIGSEGV)


def test_huge_image_file_is_refused_by_its_size_and_the_batch_goes_on(val_images, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    with open(folder / "a-huge.jpg", "wb") as fh:  # 3 GB on paper, nothing on disk
        fh.write(val_images[0].read_bytes()[:2000])
        fh.truncate(3 * 2**30)
    shutil.copy(val_images[1], folder / "b-good.jpg")
    res = runner.invoke(app, ["detect", str(folder), "--json", str(tmp_path / "f.jsonl")])
    assert res.exit_code == 1, res.output
    line = next(ln for ln in res.output.splitlines() if "a-huge.jpg" in ln)
    assert "3,221,225,472 bytes on disk exceeds the limit" in line
    assert {r["image"] for r in _jsonl(tmp_path / "f.jsonl")} == {str(folder / "b-good.jpg")}


# --- 3: outputs that cannot be written ------------------------------------------------------
def test_json_on_a_full_disk_is_one_line_and_exit_2(val_images):
    res = _maskwatch("detect", val_images[0], "--json", "/dev/full", "-q")
    err = _err(res)
    assert res.returncode == 2, err
    assert "Traceback" not in err and "No space left on device" in err
    assert len(err.strip().splitlines()) == 1


def test_json_cut_by_a_full_disk_holds_whole_lines(val_images, tmp_path):
    out = tmp_path / "f.jsonl"
    res = _maskwatch("detect", *val_images[:30], "--json", out, "-q", limit_bytes=5000)
    assert res.returncode == 2, _err(res)
    assert "whole row(s) written before" in _err(res) and "Traceback" not in _err(res)
    text = out.read_text()
    assert text and text.endswith("\n") and len(text) <= 5000
    assert all(json.loads(line)["image"] for line in text.splitlines())  # no half-written record


def test_json_pointing_at_a_folder(val_images, tmp_path):
    res = runner.invoke(app, ["detect", str(val_images[0]), "--json", str(tmp_path), "-q"])
    assert res.exit_code == 2
    assert "is a folder" in res.output and len(res.output.strip().splitlines()) == 1


def test_annotated_video_on_a_full_disk_is_an_error_and_removed(val_images, tmp_path):
    video = make_video(val_images[:6], tmp_path / "clip.mp4", frames_each=5)
    out = tmp_path / "out"
    out.mkdir()
    res = _maskwatch("detect", video, "--out", out, "-q", limit_bytes=video.stat().st_size // 3)
    err = _err(res)
    assert res.returncode == 2, err  # was 0 with a corrupt MP4
    assert "clip.mp4" in err and "could not be written completely" in err and "Traceback" not in err
    assert list(out.iterdir()) == []  # no corrupt video left behind


def test_outputs_with_the_same_stem_are_kept_apart(val_images, tmp_path):
    for sub, src in (("a", val_images[0]), ("b", val_images[1])):
        (tmp_path / sub).mkdir()
        shutil.copy(src, tmp_path / sub / "x.jpg")
    out = tmp_path / "out"
    res = runner.invoke(app, ["detect", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["x-2.jpg", "x.jpg"]
    assert cv2.imread(str(out / "x.jpg")).shape == cv2.imread(str(val_images[0])).shape
    assert cv2.imread(str(out / "x-2.jpg")).shape == cv2.imread(str(val_images[1])).shape


# --- 16: a stream that accepts and never answers ---------------------------------------------
def test_stream_timeout_bounds_the_open(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held = []
    threading.Thread(target=lambda: held.extend(server.accept() for _ in iter(int, 1)), daemon=True).start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}/live.mjpg"
    t0 = time.monotonic()
    try:
        res = runner.invoke(app, ["detect", url, "--stream-timeout", "3", "-q"])
    finally:
        server.close()
    took = time.monotonic() - t0
    assert res.exit_code == 1 and "cannot connect to stream" in res.output
    assert took < 10, f"took {took:.0f} s"  # was 30 s: FFmpeg's own open timeout


# --- 17 and 24: silent partial results, failures printed once, no FFmpeg noise ---------------
def test_video_cut_short_and_lying_jpeg_are_named_once_without_codec_noise(val_images, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    full = make_video(val_images[:8], tmp_path / "full.avi", frames_each=10, fourcc="MJPG")
    data = full.read_bytes()
    (folder / "half.avi").write_bytes(data[: len(data) // 2])
    mp4 = make_video(val_images[:2], tmp_path / "v.mp4", frames_each=2)
    (folder / "nomoov.mp4").write_bytes(mp4.read_bytes()[:3000])
    jpeg = bytearray(val_images[0].read_bytes())
    at = jpeg.index(b"\xff\xc0")  # baseline SOF: precision, height, width
    h, w = int.from_bytes(jpeg[at + 5 : at + 7], "big"), int.from_bytes(jpeg[at + 7 : at + 9], "big")
    jpeg[at + 5 : at + 9] = (2 * h).to_bytes(2, "big") + (2 * w).to_bytes(2, "big")
    (folder / "liar.jpg").write_bytes(bytes(jpeg))
    res = _maskwatch("detect", folder, "--json", tmp_path / "f.jsonl")
    err = _err(res)
    assert res.returncode == 1, err
    lines = err.strip().splitlines()
    assert "moov atom" not in err  # FFmpeg's own words stay out
    assert all("liar.jpg" in ln for ln in lines if "Corrupt JPEG data" in ln)  # libjpeg's: only in our line
    for name, reason in [
        ("half.avi", "only "),
        ("liar.jpg", f"declares {2 * w}x{2 * h} pixels"),
        ("nomoov.mp4", "cannot open video"),
    ]:
        named = [ln for ln in lines if name in ln]
        assert len(named) == 1, f"{name} printed {len(named)} times:\n{err}"
        assert reason in named[0]
    assert all(any(n in ln for n in ("half.avi", "liar.jpg", "nomoov.mp4")) for ln in lines[:-2])
    assert "3 failed" in lines[-1]
    rows = _jsonl(tmp_path / "f.jsonl")
    assert rows and all(r["image"].endswith("half.avi") for r in rows)  # the decoded half is kept


# --- 18: symlink loops ----------------------------------------------------------------------
def test_symlink_loops_are_named(val_images, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(val_images[0], folder / "a.jpg")
    os.symlink("self", folder / "self")
    os.symlink("x2", folder / "x1")
    os.symlink("x1", folder / "x2")
    os.symlink("..", folder / "up")
    os.symlink("gone.jpg", folder / "dangling.jpg")
    res = runner.invoke(app, ["detect", str(folder), "-q"])
    assert res.exit_code == 0, res.output
    for name in ("self", "x1", "x2", "up"):
        assert any(f"{name}: symlink loop" in ln for ln in res.output.splitlines()), res.output
    assert "dangling.jpg: broken symlink" in res.output


# --- 24: annotated images -------------------------------------------------------------------
def _one_face(x1, y1, x2, y2) -> Detections:
    dets = Detections.empty()
    return Detections(
        np.array([[x1, y1, x2, y2]], np.float32),
        np.array([0.97], np.float32),
        np.array([2]),
        np.array([[0.01, 0.02, 0.97]], np.float32),
        np.array([0.99], np.float32),
        np.zeros((1, 5, 2), np.float32),
        np.array([12]),
        {k: v[:0] for k, v in dets.data.items()},
    )


def test_labels_at_the_right_edge_are_whole():
    canvas = np.zeros((240, 320, 3), np.uint8)
    text = lambda img: int((img == 255).all(axis=2).sum())  # white text pixels  # noqa: E731
    middle = text(annotate(canvas, _one_face(100, 100, 140, 140)))
    edge = annotate(canvas, _one_face(290, 100, 320, 140))
    assert text(edge) == middle  # was cut off: the tag ran past the right edge
    bottom_right = annotate(canvas, _one_face(290, 0, 320, 240))
    assert text(bottom_right) == middle
