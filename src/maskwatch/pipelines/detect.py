"""The ``maskwatch detect`` job: every source in turn, one clear line per failure, the
rest of the batch going on, and a summary at the end."""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from ..draw import annotate
from ..errors import BadInputError, OutputError, SourceError
from ..images import read_image
from ..labels import LABELS
from ..progress import track
from ..settings import DetectSettings
from ..tracking.tracker import FaceTracker
from .frames import FramePipeline
from .sources import FrameReader, SourceItem, expand_sources
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
    if source.isdigit() or "://" in source:
        name = "camera" + source if source.isdigit() else "stream"
        return out / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}{suffix}"
    return out / (Path(source).stem + suffix)


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

    def fail(self, spec: str, reason: str) -> None:
        self.summary.failed.append((spec, reason))
        self.warn(f"failed {spec}: {reason}")

    def image(self, item: SourceItem) -> None:
        try:
            image = read_image(item.spec, self.settings.max_pixels)
        except BadInputError as exc:
            self.fail(item.spec, exc.reason)
            return
        dets = self.detector.detect(image).above(self.settings.min_score)
        self.summary.files += 1
        self.summary.faces.update(dets.labels)
        self.writer.write(dets, item.spec)
        if self.out_dir or self.display.enabled:
            annotated = annotate(image, dets)
            if self.out_dir:
                target = self.out_dir / (Path(item.spec).stem + ".jpg")
                if not cv2.imwrite(str(target), annotated):
                    self.fail(str(target), "cannot write annotated image (disk full or no permission?)")
            self.display.show(item.spec, annotated)

    def video(self, item: SourceItem) -> None:
        settings = self.settings
        try:
            reader = FrameReader(item.spec, item.kind, max_outage=settings.stream_timeout)
        except SourceError as exc:
            self.fail(item.spec, str(exc).split(": ", 1)[-1])
            return
        video_writer = None
        # a track_id per person, stable across frames
        pipeline = FramePipeline(self.detector, settings.min_score, settings.stride, FaceTracker(), settings.max_frames)
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
            self.fail(item.spec, str(exc).split(": ", 1)[-1])
            if frames:
                self.summary.files += 1
        finally:
            reader.close()
            self.summary.frames += frames
            self.writer.flush()
            if video_writer is not None:
                video_writer.release()

    def _open_video(self, spec: str, first, fps: float):
        h, w = first.shape[:2]
        target = _out_path(self.out_dir, spec, ".mp4")
        writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        if not writer.isOpened():
            raise OutputError(f"{target}: cannot write annotated video")
        return writer


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
            raise OutputError(f"{out_dir}: output folder is not writable ({exc.strerror or exc})") from None
    writer = FaceWriter(json_path, csv_path)
    job = _Job(detector, settings, writer, out_dir, _Display(show, warn), summary, warn, progress)
    items = expand_sources(sources)
    for item in items:
        if item.kind == "skip":  # a stray file inside a folder: reported, not a failure
            summary.skipped.append((item.spec, item.reason))
            warn(f"skipped {item.spec}: {item.reason}")
        elif item.kind == "missing":  # a source the user named: a failure
            job.fail(item.spec, item.reason)
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
    if summary.skipped:
        lines.append(
            f"skipped {len(summary.skipped)}: "
            + "; ".join(f"{p} ({r})" for p, r in summary.skipped[:5])
            + (" ..." if len(summary.skipped) > 5 else "")
        )
    if summary.failed:
        lines.append(
            f"failed {len(summary.failed)}: "
            + "; ".join(f"{p} ({r})" for p, r in summary.failed[:5])
            + (" ..." if len(summary.failed) > 5 else "")
        )
    return "\n".join(lines)
