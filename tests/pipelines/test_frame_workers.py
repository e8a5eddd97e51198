"""Frames spread over inference threads (``FramePipeline(workers=N)``, ``--workers``): the
same results as one frame at a time, in frame order, with the same track ids; the reader's
errors after the frames before them; bounded read-ahead; threads that stop when the
consumer does. On a video made from real val images and the real detector."""

from __future__ import annotations

import itertools
import json
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner
from videos import make_video

from maskwatch.cli import app
from maskwatch.defaults import FILE_WORKERS
from maskwatch.errors import SourceError
from maskwatch.pipelines.frames import AHEAD_PER_WORKER, FramePipeline
from maskwatch.pipelines.sources import Frame, FrameReader
from maskwatch.settings import DetectSettings
from maskwatch.tracking.tracker import FaceTracker

MIN_SCORE = 0.3


@pytest.fixture(scope="module")
def clip(val_images, tmp_path_factory) -> Path:
    """8 real val images, 3 frames each (24 frames, 640x480, 10 FPS): faces that stay put
    for a few frames, so the tracker confirms tracks and carries ids."""
    return make_video(val_images[:8], tmp_path_factory.mktemp("workers") / "clip.mp4", frames_each=3)


@pytest.fixture(scope="module")
def frames(clip) -> list[Frame]:
    reader = FrameReader(str(clip))
    try:
        return list(reader)
    finally:
        reader.close()


def _pipeline(detector, workers: int, **kw) -> FramePipeline:
    return FramePipeline(detector, MIN_SCORE, tracker=FaceTracker(), workers=workers, **kw)


def _summary(results) -> list[tuple]:
    """Everything a consumer sees of a result, exact to the bit."""
    out = []
    for r in results:
        d = r.detections
        out.append(
            (
                r.frame.index,
                r.frame.t,
                r.analysed,
                d.xyxy.tobytes(),
                d.confidence.tobytes(),
                d.class_id.tolist(),
                d.probs.tobytes(),
                d.landmarks.tobytes(),
                d.tracker_id.tolist(),
            )
        )
    return out


class _Counting:
    """A detector wrapper: which frames were analysed, and how many ran at once."""

    def __init__(self, detector, delay: float = 0.0):
        self.detector, self.delay = detector, delay
        self.calls: list[int] = []
        self.running = self.peak = 0
        self._lock = threading.Lock()

    def detect(self, image):
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.calls.append(id(image))
        try:
            if self.delay:
                time.sleep(self.delay)
            return self.detector.detect(image)
        finally:
            with self._lock:
                self.running -= 1


def _frame_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("frames-")]


@pytest.mark.parametrize("options", [{}, {"stride": 2}, {"max_fps": 4.0}], ids=["every", "stride2", "max_fps4"])
def test_workers_give_exactly_what_one_worker_gives(detector, clip, options):
    expected = None
    for workers in (1, 2, 3):
        reader = FrameReader(str(clip))  # the real reader, its own decode thread and all
        try:
            got = _summary(_pipeline(detector, workers, **options).run(reader))
        finally:
            reader.close()
        if expected is None:
            expected = got
            assert [g[0] for g in got] == list(range(24))
            analysed = [g[0] for g in got if g[2]]
            assert any(tid >= 0 for g in got for tid in g[8]), "the tracker confirmed no track: a weak test"
            if options.get("stride") == 2:
                assert analysed == list(range(0, 24, 2))
            continue
        assert [g[0] for g in got] == list(range(24)), f"workers={workers}: frames lost, doubled or out of order"
        assert got == expected, f"workers={workers} {options}: results differ from workers=1"


def test_skipped_frames_carry_the_last_analysed_faces(detector, frames):
    results = list(_pipeline(detector, 3, stride=2).run(frames))
    for prev, cur in itertools.pairwise(results):
        assert cur.analysed == (cur.frame.index % 2 == 0)
        if not cur.analysed:
            assert cur.detections is prev.detections


def test_each_due_frame_is_analysed_once_and_workers_run_at_once(detector, frames):
    counting = _Counting(detector, delay=0.02)
    results = list(_pipeline(counting, 2, stride=2).run(frames))
    assert [r.frame.index for r in results] == list(range(24))
    due = [id(f.image) for f in frames if f.index % 2 == 0]
    assert sorted(counting.calls) == sorted(due) and len(set(counting.calls)) == 12  # none lost or run twice
    assert counting.peak == 2


def test_max_frames_stops_and_reads_no_further(detector, frames):
    pulled = []

    def reader():
        for f in frames:
            pulled.append(f.index)
            yield f

    results = list(_pipeline(detector, 2, max_frames=5).run(reader()))
    assert [r.frame.index for r in results] == [0, 1, 2, 3, 4]
    assert pulled == [0, 1, 2, 3, 4]


def test_a_reader_error_comes_after_the_frames_before_it_in_order(detector, frames):
    expected = _summary(_pipeline(detector, 1).run(frames[:10]))

    def dropping():
        yield from frames[:10]
        raise SourceError("cam: stream dropped and did not come back within 1 s")

    for workers in (1, 2, 3):
        got = []
        with pytest.raises(SourceError, match="stream dropped"):
            for result in _pipeline(detector, workers).run(dropping()):
                got.append(result)
        assert _summary(got) == expected, f"workers={workers}"
    assert not _frame_threads()


def test_read_ahead_is_bounded_on_an_endless_stream(detector, frames):
    pulled = 0

    def endless():
        nonlocal pulled
        for i in itertools.count():
            f = frames[i % len(frames)]
            pulled += 1
            yield Frame(f.image, i, i / 10)

    workers = 2
    results = _pipeline(detector, workers).run(endless())
    next(results)
    time.sleep(0.5)  # the consumer stalls: the decode thread must wait, not read on
    # in the queue, one waiting to be put, and the one the consumer holds
    assert pulled <= AHEAD_PER_WORKER * workers + 2
    results.close()


def test_breaking_out_early_stops_the_threads_promptly(detector, frames):
    def endless():
        for i in itertools.count():
            f = frames[i % len(frames)]
            yield Frame(f.image, i, i / 10)

    for workers in (2, 3):
        seen = []
        for result in _pipeline(detector, workers).run(endless()):
            seen.append(result.frame.index)
            if len(seen) == 5:
                t0 = time.perf_counter()
                break  # CPython closes the generator here
        assert seen == [0, 1, 2, 3, 4]
        assert time.perf_counter() - t0 < 2.0
        assert not _frame_threads(), [t.name for t in _frame_threads()]


def test_a_detector_error_reaches_the_caller_and_the_threads_stop(frames):
    class Broken:
        def detect(self, image):
            raise RuntimeError("onnx: out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        list(FramePipeline(Broken(), MIN_SCORE, workers=2).run(frames))
    assert not _frame_threads()


def test_workers_setting_flag_over_environment_over_file_over_default(monkeypatch):
    monkeypatch.delenv("MASKWATCH_WORKERS", raising=False)
    assert DetectSettings.resolve().workers is None  # by the source: FILE_WORKERS or 1
    assert DetectSettings.resolve().workers_for(live=False) == FILE_WORKERS
    assert DetectSettings.resolve().workers_for(live=True) == 1
    assert DetectSettings.resolve({"workers": 3}).workers_for(live=True) == 3
    assert DetectSettings.resolve({"workers": 3}).workers == 3
    monkeypatch.setenv("MASKWATCH_WORKERS", "2")
    assert DetectSettings.resolve({"workers": 3}).workers == 2
    assert DetectSettings.resolve({"workers": 3}, workers=4).workers == 4


def test_detect_cli_with_two_workers_writes_what_one_writes(clip, tmp_path):
    rows = {}
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}.jsonl"
        res = CliRunner().invoke(app, ["detect", str(clip), "--workers", workers, "--json", str(out), "-q"])
        assert res.exit_code == 0, res.output
        rows[workers] = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows["1"] and any("track_id" in r for r in rows["1"])
    assert rows["2"] == rows["1"]


@pytest.mark.parametrize("workers", [1, 2])
def test_watch_counts_each_person_once_with_any_workers(walkby, detector, tmp_path, workers):
    from maskwatch.events.store import EventStore
    from maskwatch.pipelines.watch import run_watch
    from maskwatch.settings import WatchSettings

    store = EventStore(f"sqlite:///{tmp_path / 'w.db'}")
    cfg = WatchSettings.resolve({"cameras": [{"name": "door", "source": walkby["video"]}], "workers": workers})
    result = run_watch(cfg, detector, store, install_signals=False)
    stats = result.cameras["door"]
    assert stats.analysed == walkby["frames"] and stats.frames == walkby["frames"]
    assert store.counts()["per_label"] == walkby["people"]
    assert not _frame_threads()


def test_detect_spreads_a_video_file_over_file_workers_by_default(clip, tmp_path, monkeypatch):
    """Without --workers a file gets FILE_WORKERS (throughput; the same output as one, tested
    above); cameras and streams get 1 (``workers_for``, tested above)."""
    import maskwatch.pipelines.detect as detect_module

    monkeypatch.delenv("MASKWATCH_WORKERS", raising=False)
    used = []

    class Recorded(FramePipeline):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            used.append(self.workers)

    monkeypatch.setattr(detect_module, "FramePipeline", Recorded)
    res = CliRunner().invoke(app, ["detect", str(clip), "--json", str(tmp_path / "f.jsonl"), "-q"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "f.jsonl").read_text()
    assert used == [FILE_WORKERS]
