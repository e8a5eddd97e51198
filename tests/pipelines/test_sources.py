"""Live streams from a local HTTP server: a drop is reconnected, an outage is given up on
after the documented time with a clear message."""

import json
import time

import cv2
import numpy as np
import pytest
from servers import Camera
from typer.testing import CliRunner

from maskwatch.cli import app
from maskwatch.errors import SourceError
from maskwatch.pipelines.sources import FrameReader


@pytest.fixture
def camera(tmp_path, val_images):
    writer = cv2.VideoWriter(str(tmp_path / "cam.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for p in val_images[:20]:
        writer.write(cv2.resize(cv2.imread(str(p)), (320, 240)))
    writer.release()
    server = Camera(tmp_path / "cam.avi", down=lambda n: n > 2)  # two connections, then gone
    yield server
    server.close()


def test_dropped_stream_reconnects_then_gives_up(camera):
    reader = FrameReader(camera.url, "stream", queue_size=64, max_outage=1.5, backoff=(0.1, 0.4))
    frames = []
    t0 = time.monotonic()
    with pytest.raises(SourceError, match="did not come back within 2 s"):
        for frame in reader:
            frames.append(frame)
    assert reader.reconnects == 1  # the second request was the reconnection
    assert len(frames) > 20  # frames from both connections
    assert time.monotonic() - t0 < 10
    assert camera.served["n"] >= 3  # it kept trying after the drop


def test_unreachable_stream_in_cli_is_one_clear_line(tmp_path):
    res = CliRunner().invoke(app, ["detect", "http://127.0.0.1:9/none.avi", "--stream-timeout", "1", "-q"])
    assert res.exit_code == 1
    assert "cannot connect to stream" in res.output and "gave up after 1 s" in res.output


def test_stream_frames_are_detected(camera, tmp_path):
    res = CliRunner().invoke(
        app, ["detect", camera.url, "--json", str(tmp_path / "s.jsonl"), "--max-frames", "10", "-q"]
    )
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text().splitlines() if line]
    assert rows and all(r["image"] == camera.url and "t" in r for r in rows)
    assert len({r["frame"] for r in rows}) <= 10  # a live source may skip indices (old frames are dropped)


@pytest.mark.parametrize(
    ("spec", "kind", "name"),
    [
        ("0", "camera", "webcam0"),
        ("RTSP://10.0.0.5/stream1", "stream", "10.0.0.5-stream1"),
        ("http://h/x.mjpg", "stream", "h-x.mjpg"),
        ("a b.mp4", None, "a-b"),
    ],
)
def test_one_rule_says_what_is_live_for_reader_sources_and_names(spec, kind, name, tmp_path):
    """``live_kind`` decides for the reader (reconnects, newest frames), ``expand_sources``
    and the camera names alike."""
    from maskwatch.pipelines.sources import expand_sources, live_kind
    from maskwatch.settings import camera_name

    assert live_kind(spec) == kind
    if kind is None:  # a real file: read in full, not as a live source
        path = tmp_path / spec
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
        for _ in range(3):
            writer.write(np.zeros((48, 64, 3), np.uint8))
        writer.release()
        reader = FrameReader(str(path))
        assert (reader.kind, reader.live, reader.frame_count) == ("video", False, 3)
        reader.close()
        spec = str(path)
    assert expand_sources([spec])[0].kind == (kind or "video")
    assert camera_name(spec, set()) == name
