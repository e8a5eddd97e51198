"""The ``maskwatch detect`` job: every source in turn, one clear line per failure, the
rest of the batch going on, and a summary at the end."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from ..draw import annotate
from ..errors import BadInputError, OutputError, SourceError
from ..images import read_image, shown_path
from ..labels import LABELS
from ..progress import track
from ..settings import DetectSettings
from ..tracking.tracker import FaceTracker
from .frames import FramePipeline
from .sources import FrameReader, SourceItem, expand_sources, live_kind, opencv_safe, quiet_opencv
from .writers import FaceWriter


@dataclass
class Summary:
    files: int = 0
    frames: int = 0
    faces: Counter = field(default_factory=Counter)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


class _Display:
    """``--show``: a window where OpenCV has a GUI and a display; otherwise one warning."""

    def __init__(self, enabled: bool, warn):
        self.enabled = enabled and bool(os.environ.get("DISPLAY") or sys.platform in ("win32", "darwin"))
        if enabled and not self.enabled:
            warn("--show: no display here; showing nothing")

    def show(self, name: str, image) -> bool:
        if not self.enabled:
            return True
        try:
            cv2.imshow("maskwatch", image)
            return (cv2.waitKey(1) & 0xFF) not in (ord("q"), 27)
        except cv2.error:
            self.enabled = False
            return True


def _out_path(out: Path, source: str, suffix: str) -> Path:
    if live := live_kind(source):
        name = "camera" + source if live == "camera" else "stream"
        return out / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}{suffix}"
    return out / (Path(source).stem + suffix)


def _unique(path: Path, taken: set[Path]) -> Path:
    """``path``, or ``stem-2``, ``stem-3``... where an earlier source of this run has it
    (``a/x.jpg`` and ``b/x.jpg`` both annotate to ``x.jpg``)."""
    candidate, n = path, 1
    while candidate in taken:
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    taken.add(candidate)
    return candidate


def record_failure(summary: Summary, warn, spec: str, reason: str) -> None:
    """One line per failure, here; the summary only counts them (the plain and Ray paths)."""
    summary.failed.append((spec, reason))
    warn(f"failed {shown_path(spec)}: {reason}")


def record_unusable(items: list[SourceItem], summary: Summary, warn) -> None:
    """Stray files inside a folder (skipped, not a failure) and named sources that are not
    there (failures), one line each."""
    for item in items:
        if item.kind == "skip":
            summary.skipped.append((item.spec, item.reason))
            warn(f"skipped {shown_path(item.spec)}: {item.reason}")
        elif item.kind == "missing":
            record_failure(summary, warn, item.spec, item.reason)


@dataclass
class _Job:
    """What every source of one ``detect`` run shares: models, outputs, options, tallies."""

    detector: object
    settings: DetectSettings
    writer: FaceWriter
    out_dir: Path | None
    display: _Display
    summary: Summary
    warn: object
    progress: bool | None = None
    taken: set = field(default_factory=set)  # annotated outputs of this run, kept apart

    def fail(self, spec: str, reason: str) -> None:
        record_failure(self.summary, self.warn, spec, reason)

    def image(self, item: SourceItem) -> None:
        try:
            image = read_image(
                item.spec,
                self.settings.max_pixels,
                self.settings.max_image_bytes,
                warn=lambda m: self.warn(f"warning {m}"),
            )
        except BadInputError as exc:
            self.fail(item.spec, exc.reason)
            return
        dets = self.detector.detect(image).above(self.settings.min_score)
        self.summary.files += 1
        self.summary.faces.update(dets.labels)
        self.writer.write(dets, item.spec)
        self.writer.flush()
        if self.out_dir or self.display.enabled:
            annotated = annotate(image, dets)
            if self.out_dir:
                self._write_image(_unique(_out_path(self.out_dir, item.spec, ".jpg"), self.taken), annotated)
            self.display.show(item.spec, annotated)

    def _write_image(self, target: Path, annotated) -> None:
        """Encoded in memory and written by Python (OpenCV's ``imwrite`` crashes on names that
        are not UTF-8); a failed write leaves no partial file and stops the run."""
        ok, data = cv2.imencode(".jpg", annotated)
        if not ok:
            raise OutputError(f"{shown_path(target)}: cannot encode the annotated image")
        partial = target.with_name(f".{target.name}.partial")
        try:
            partial.write_bytes(data.tobytes())
            os.replace(partial, target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                partial.unlink()
            raise OutputError.cannot_write(target, exc, "run stopped") from None

    def video(self, item: SourceItem) -> None:
        settings = self.settings
        try:
            reader = FrameReader(item.spec, item.kind, max_outage=settings.stream_timeout)
        except SourceError as exc:
            self.fail(item.spec, str(exc).removeprefix(shown_path(item.spec) + ": "))
            return
        video_writer = None
        # a track_id per person, stable across frames
        pipeline = FramePipeline(
            self.detector,
            settings.min_score,
            settings.stride,
            FaceTracker(),
            settings.max_frames,
            workers=settings.workers_for(reader.live),
        )
        frames = 0
        try:
            label = Path(item.spec).name if item.kind == "video" else item.spec
            for result in pipeline.run(track(reader, label, reader.frame_count or None, self.progress)):
                frame, dets = result.frame, result.detections
                if result.analysed:
                    self.summary.faces.update(dets.labels)
                    self.writer.write(dets, item.spec, frame.index, frame.t)
                frames += 1
                if self.out_dir or self.display.enabled:
                    annotated = annotate(frame.image, dets)  # boxes carried over skipped frames
                    if self.out_dir and video_writer is None:
                        video_writer = self._open_video(item.spec, annotated, reader.fps)
                    if video_writer is not None:
                        video_writer.write(annotated)
                    if not self.display.show(item.spec, annotated):
                        break
            self.summary.files += 1
        except SourceError as exc:
            self.fail(item.spec, str(exc).removeprefix(shown_path(item.spec) + ": "))
            if frames:
                self.summary.files += 1
        finally:
            reader.close()
            self.summary.frames += frames
            try:
                self.writer.flush()
            finally:
                if video_writer is not None:
                    video_writer.finish()

    def _open_video(self, spec: str, first, fps: float) -> _VideoOut:
        h, w = first.shape[:2]
        return _VideoOut(_unique(_out_path(self.out_dir, spec, ".mp4"), self.taken), fps, (w, h))


class _VideoOut:
    """An annotated video written under a temporary ASCII name (OpenCV crashes on names that are
    not UTF-8), checked once released (OpenCV's writer says nothing when the disk fills up: the
    file would be a corrupt MP4), then renamed to its own name. A failed one is removed."""

    def __init__(self, target: Path, fps: float, size: tuple[int, int]):
        self.target, self.frames = target, 0
        folder = target.parent if opencv_safe(str(target.parent)) else Path(tempfile.gettempdir())
        self.partial = folder / f".maskwatch-partial-{os.getpid()}-{uuid.uuid4().hex[:12]}.mp4"
        self._writer = cv2.VideoWriter(str(self.partial), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self._writer.isOpened():
            self._discard()
            raise OutputError(f"{shown_path(target)}: cannot write annotated video")

    def write(self, image) -> None:
        self._writer.write(image)
        self.frames += 1

    def _discard(self) -> None:
        with contextlib.suppress(OSError):
            self.partial.unlink()

    def finish(self) -> None:
        self._writer.release()
        check = cv2.VideoCapture(str(self.partial))
        written = int(check.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if check.isOpened() else 0
        check.release()
        if written < self.frames:
            self._discard()
            reason = "disk full?" if written == 0 else f"only {written} of {self.frames} frames"
            raise OutputError(
                f"{shown_path(self.target)}: the annotated video could not be written completely ({reason}); "
                "removed it; run stopped"
            )
        try:
            shutil.move(str(self.partial), self.target)
        except OSError as exc:
            self._discard()
            raise OutputError.cannot_write(self.target, exc, "run stopped") from None


def run_detect(
    sources: list[str],
    settings: DetectSettings | None = None,
    detector=None,
    json_path: str | None = None,
    csv_path: str | None = None,
    out: str | None = None,
    show: bool = False,
    progress: bool | None = None,
    warn=None,
) -> Summary:
    """Detect faces in every source in turn: one clear line per failure, the rest going on.

    Args:
        sources: images, folders (recursive), globs, videos, webcam indices, stream URLs.
        settings: the resolved :class:`~maskwatch.settings.DetectSettings` (default: from
            the environment and defaults).
        detector: a loaded detector to use (default: the one ``settings`` describes).
        json_path, csv_path: where to write one row per face ("-" for stdout).
        out: a folder for annotated images and videos.
        show: a live window where a display exists.
        progress: progress bars (default: when stderr is a terminal).
        warn: where one-line problems go (default: stderr).

    Returns:
        :class:`Summary` of files, frames, faces per label, failures and skips.

    Raises:
        OutputError: an output folder or file that cannot be written.
    """
    settings = settings or DetectSettings.resolve()
    quiet_opencv()  # before any video is opened: FFmpeg reads its log level once
    detector = detector or settings.detector()
    warn = warn or (lambda msg: print(msg, file=sys.stderr))
    summary = Summary()
    t0 = time.perf_counter()
    out_dir = Path(out) if out else None
    if out_dir:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            probe = out_dir / ".maskwatch-write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise OutputError.cannot_write(out_dir, exc, "nothing was detected") from None
    writer = FaceWriter(json_path, csv_path)
    job = _Job(detector, settings, writer, out_dir, _Display(show, warn), summary, warn, progress)
    items = expand_sources(sources)
    record_unusable(items, summary, warn)
    images = [i for i in items if i.kind == "image"]
    streams = [i for i in items if i.kind in ("video", "camera", "stream")]
    try:
        for item in track(images, "images", len(images), progress if len(images) > 1 else False):
            job.image(item)
        for item in streams:
            job.video(item)
    finally:
        writer.close()
    summary.seconds = time.perf_counter() - t0
    return summary


def format_summary(summary: Summary) -> str:
    faces = ", ".join(f"{label} {summary.faces.get(label, 0)}" for label in LABELS)
    lines = [
        f"{summary.files} file(s){f', {summary.frames} frame(s)' if summary.frames else ''} in "
        f"{summary.seconds:.1f} s; faces: {faces}"
    ]
    # each failure and skip has had its own line already: the summary counts them
    counts = [f"{len(v)} {word}" for v, word in ((summary.failed, "failed"), (summary.skipped, "skipped")) if v]
    if counts:
        lines.append(" and ".join(counts) + " (each named above)")
    return "\n".join(lines)
