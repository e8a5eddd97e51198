"""The one frame pipeline: a reader's frames, then the detector, then (optionally) the
tracker, handed to whatever consumes them (``detect``'s writers, ``watch``'s counter, the
MJPEG stream, the video upload). It is the place where frames will be spread over cores.

Every consumer gets the same :class:`FrameResult` for the same frame, so what ``detect``
writes, what ``watch`` counts and what the server answers can never drift apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..detections import Detections
from .sources import Frame, FrameReader


@dataclass
class FrameResult:
    """One frame and its faces. On a frame skipped by ``stride`` (``analysed`` False) the
    faces are the last analysed frame's, so annotated videos keep their boxes."""

    frame: Frame
    detections: Detections
    analysed: bool


class FramePipeline:
    """reader -> detector -> tracker, one frame at a time.

    Args:
        detector: anything with ``detect(image) -> Detections`` (a :class:`~maskwatch.Detector`).
        min_score: faces scoring lower are dropped before tracking and output.
        stride: analyse every Nth frame (by the reader's frame index).
        tracker: a :class:`~maskwatch.tracking.tracker.FaceTracker` for track ids, or None.
        max_frames: stop after this many frames.
        max_fps: analyse at most this many frames per second of the source's clock.
    """

    def __init__(
        self,
        detector,
        min_score: float,
        stride: int = 1,
        tracker=None,
        max_frames: int | None = None,
        max_fps: float | None = None,
    ):
        self.detector, self.min_score, self.stride = detector, min_score, max(1, stride)
        self.tracker, self.max_frames = tracker, max_frames
        self._min_gap = 1.0 / max_fps if max_fps else 0.0
        self._next_t = 0.0
        self._last = Detections.empty()

    def due(self, frame: Frame) -> bool:
        """Whether ``frame`` is analysed (stride and max_fps), as :meth:`process` decides."""
        return frame.index % self.stride == 0 and frame.t + 1e-6 >= self._next_t

    def process(self, frame: Frame) -> FrameResult:
        """Analyse one frame if it is due, else carry the last faces over."""
        if not self.due(frame):
            return FrameResult(frame, self._last, False)
        self._next_t = frame.t + self._min_gap
        dets = self.detector.detect(frame.image).above(self.min_score)
        if self.tracker is not None:
            dets = self.tracker.update(dets, frame.t)
        self._last = dets
        return FrameResult(frame, dets, True)

    def run(self, reader: FrameReader | Iterator[Frame]) -> Iterator[FrameResult]:
        """Every frame of ``reader`` with its faces, in order; stops at ``max_frames``.
        The reader's own errors (a dropped stream) propagate to the caller."""
        for n, frame in enumerate(reader, 1):
            yield self.process(frame)
            if self.max_frames and n >= self.max_frames:
                break
