"""The one frame pipeline: a reader's frames, then the detector, then (optionally) the
tracker, handed to whatever consumes them (``detect``'s writers, ``watch``'s counter, the
MJPEG stream, the video upload).

With ``workers`` > 1 frames are spread over the cores: a decode thread pulls frames from the
reader and decides which are due (stride, max_fps) in frame order, ``workers`` inference
threads run the detector on the due ones at once (ONNX Runtime releases the GIL), and the
consumer gets the results strictly in frame order, filtered by ``min_score`` and tracked there,
one after the other, so track ids are the same as with one worker. The workers share the one
detector and its ONNX Runtime sessions, whose threads are not split between them: each run may
use every core (``--threads`` sets fewer). On 2 cores one thread a run was no faster than two
for 2 or 3 workers (``benchmarks/bench_video_workers.py``, ``benchmarks/results.md``).

Every consumer gets the same :class:`FrameResult` for the same frame, so what ``detect``
writes, what ``watch`` counts and what the server answers can never drift apart.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from ..detections import Detections
from .sources import Frame, FrameReader

#: Analysed frames read ahead per inference worker, waiting in order for the consumer: with
#: the one the consumer waits on and the one the decode thread holds, ``workers + 2`` frames
#: are in inference or queued for it, so no worker idles, while memory stays flat on an
#: endless stream and a live source that outruns the workers waits in few frames (latency).
#: With ``stride`` N the read-ahead holds N times as many frames, so as many are analysed.
AHEAD_PER_WORKER = 1
#: Seconds a closed pipeline waits for its decode thread (which may sit in a live reader's
#: ``next``: the caller's ``reader.close()`` ends that).
JOIN_SECONDS = 1.0

_END = object()


@dataclass
class FrameResult:
    """One frame and its faces. On a frame skipped by ``stride`` (``analysed`` False) the
    faces are the last analysed frame's, so annotated videos keep their boxes."""

    frame: Frame
    detections: Detections
    analysed: bool


class _Failed:
    """The reader's error, handed over by the decode thread after the frames before it."""

    def __init__(self, exc: BaseException):
        self.exc = exc


class FramePipeline:
    """reader -> detector -> tracker, one frame at a time or spread over ``workers`` threads.

    Args:
        detector: anything with a thread-safe ``detect(image) -> Detections`` (a
            :class:`~maskwatch.Detector`).
        min_score: faces scoring lower are dropped before tracking and output.
        stride: analyse every Nth frame (by the reader's frame index).
        tracker: a :class:`~maskwatch.tracking.tracker.FaceTracker` for track ids, or None.
        max_frames: stop after this many frames.
        max_fps: analyse at most this many frames per second of the source's clock.
        workers: inference threads :meth:`run` spreads frames over; 1: one frame at a time in
            the caller's thread (:meth:`process` is always that).
    """

    def __init__(
        self,
        detector,
        min_score: float,
        stride: int = 1,
        tracker=None,
        max_frames: int | None = None,
        max_fps: float | None = None,
        workers: int = 1,
    ):
        self.detector, self.min_score, self.stride = detector, min_score, max(1, stride)
        self.tracker, self.max_frames = tracker, max_frames
        self.workers = max(1, workers)
        self._min_gap = 1.0 / max_fps if max_fps else 0.0
        self._next_t = 0.0
        self._last = Detections.empty()

    def due(self, frame: Frame) -> bool:
        """Whether ``frame`` is analysed (stride and max_fps), as :meth:`process` decides."""
        return frame.index % self.stride == 0 and frame.t + 1e-6 >= self._next_t

    def _take(self, frame: Frame) -> bool:
        """:meth:`due`, and when it is, the max_fps clock moves on (frames in order only)."""
        if not self.due(frame):
            return False
        self._next_t = frame.t + self._min_gap
        return True

    def _finish(self, frame: Frame, found: Detections) -> FrameResult:
        """An analysed frame's faces: min_score, then the tracker (frames in order only)."""
        dets = found.above(self.min_score)
        if self.tracker is not None:
            dets = self.tracker.update(dets, frame.t)
        self._last = dets
        return FrameResult(frame, dets, True)

    def process(self, frame: Frame) -> FrameResult:
        """Analyse one frame if it is due, else carry the last faces over."""
        if not self._take(frame):
            return FrameResult(frame, self._last, False)
        return self._finish(frame, self.detector.detect(frame.image))

    def run(self, reader: FrameReader | Iterator[Frame]) -> Iterator[FrameResult]:
        """Every frame of ``reader`` with its faces, in order; stops at ``max_frames``.
        The reader's own errors (a dropped stream) propagate to the caller, after the frames
        before them. Closing the iterator early (a ``break``) stops the threads it started."""
        if self.workers > 1:
            yield from self._run_spread(reader)
            return
        for n, frame in enumerate(reader, 1):
            yield self.process(frame)
            if self.max_frames and n >= self.max_frames:
                break

    def _run_spread(self, reader) -> Iterator[FrameResult]:
        # in order: (frame, Future of its raw detections, or None for a skipped frame), then
        # _END or _Failed; bounded, so the decode thread waits while inference is behind
        ordered: queue.Queue = queue.Queue(maxsize=AHEAD_PER_WORKER * self.workers * self.stride)
        stop = threading.Event()
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="frames-infer")
        feeder = threading.Thread(
            target=self._feed, args=(reader, ordered, pool, stop), name="frames-decode", daemon=True
        )
        feeder.start()
        try:
            while True:
                item = ordered.get()
                if item is _END:
                    return
                if isinstance(item, _Failed):
                    raise item.exc
                frame, future = item
                if future is None:
                    yield FrameResult(frame, self._last, False)
                else:
                    yield self._finish(frame, future.result())
        finally:
            stop.set()
            feeder.join(JOIN_SECONDS)
            # the read-ahead frames' inference not yet started is cancelled; at most the runs in
            # progress are waited for
            pool.shutdown(wait=True, cancel_futures=True)

    def _feed(self, reader, ordered: queue.Queue, pool: ThreadPoolExecutor, stop: threading.Event) -> None:
        """The decode thread: frames in order, the due ones sent to inference."""

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    ordered.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        end: object = _END
        try:
            for n, frame in enumerate(reader, 1):
                if stop.is_set():
                    break
                future: Future | None = None
                if self._take(frame):
                    try:
                        future = pool.submit(self.detector.detect, frame.image)
                    except RuntimeError:  # the pool was shut down: the consumer has gone
                        break
                if not put((frame, future)):
                    break
                if self.max_frames and n >= self.max_frames:
                    break
        except BaseException as exc:  # the reader's error, for the consumer to raise in order
            end = _Failed(exc)
        put(end)
