"""What ``maskwatch detect SOURCE...`` can read, and a frame reader for videos and streams.

Decoding runs in its own thread so a slow network camera never stalls inference, and a
live stream that drops is reopened with exponential backoff until ``max_outage`` seconds
have passed without a frame."""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import SourceError
from ..images import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, shown_path

#: Seconds a live stream may stay down (reconnecting with backoff) before we give up
#: (``detect --stream-timeout`` sets it per run).
STREAM_MAX_OUTAGE = 60.0
#: Files beside images that are not worth a warning (annotations, notes).
QUIET_EXTENSIONS = {".xml", ".txt", ".json", ".yaml", ".yml", ".csv", ".md", ".pbtxt", ".db"}
STREAM_PREFIXES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")


def live_kind(spec: str) -> str | None:
    """``"camera"`` for a webcam index, ``"stream"`` for a URL OpenCV reads live, ``None`` for
    a file. The one rule for what is live: a live source is read with reconnects, keeps only
    its newest frames, gets one inference worker and wall-clock times, and is named by kind."""
    if spec.isdigit():
        return "camera"
    if spec.lower().startswith(STREAM_PREFIXES):
        return "stream"
    return None


def quiet_opencv() -> None:
    """FFmpeg's and OpenCV's own console messages ("moov atom not found", "[ WARN:0@2.0] ...")
    off: maskwatch says what went wrong in one line naming the file. Called at run time, before
    the first video is opened (FFmpeg reads its level once); a user's own
    ``OPENCV_FFMPEG_LOGLEVEL`` / ``OPENCV_LOG_LEVEL`` wins."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    if "OPENCV_LOG_LEVEL" not in os.environ:
        with contextlib.suppress(Exception):
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def opencv_safe(path: str) -> bool:
    """Whether OpenCV may be handed ``path``: OpenCV 5 crashes (SIGSEGV) on a name whose bytes
    are not UTF-8 (Python keeps those bytes as surrogates)."""
    try:
        path.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def open_video_file(path: str) -> cv2.VideoCapture:
    """A capture of a video file, whatever bytes its name holds (see :func:`opencv_safe`).

    Raises:
        OSError: the file cannot be opened for reading (only for names OpenCV cannot take).
    """
    return cv2.VideoCapture(path) if opencv_safe(path) else _open_capture_by_fd(path)


def video_fps(cap: cv2.VideoCapture) -> float:
    """The capture's frame rate, 25 where the file says nothing believable."""
    fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
    return fps if 0 < fps < 1000 else 25.0


def _open_capture_by_fd(path: str) -> cv2.VideoCapture:
    """A capture of a file whose name OpenCV cannot take, opened through a name it can: the
    process's own ``/proc/self/fd/N`` (Linux), else a temporary ASCII-named symlink. FFmpeg
    opens the file itself, so our descriptor (or link) goes as soon as it has."""
    if os.path.isdir("/proc/self/fd"):
        fd = os.open(path, os.O_RDONLY)
        try:
            return cv2.VideoCapture(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="maskwatch-") as tmp:
        link = os.path.join(tmp, "video" + Path(os.path.abspath(path)).suffix.encode("ascii", "ignore").decode())
        os.symlink(os.path.abspath(path), link)
        return cv2.VideoCapture(link)


@dataclass(frozen=True)
class SourceItem:
    kind: str  # image | video | camera | stream | skip (stray file in a folder) | missing (named, not there)
    spec: str
    reason: str = ""


def _classify_file(path: Path) -> SourceItem:
    ext = path.suffix.lower()
    if ext in IMAGE_EXTENSIONS:
        return SourceItem("image", str(path))
    if ext in VIDEO_EXTENSIONS:
        return SourceItem("video", str(path))
    # no telling extension: sniff the bytes rather than trusting the name
    from ..images import sniff_image_format

    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        return SourceItem("skip", str(path), f"cannot read ({exc.strerror})")
    if sniff_image_format(head + b"\0" * 16):
        return SourceItem("image", str(path))
    return SourceItem("skip", str(path), f"not an image or video (extension {ext or 'none'!r})")


def _bad_link(path: Path, top: Path | None = None) -> str | None:
    """Why a symlink cannot be followed (a loop, a dangling link, a folder above ``top``
    that would walk in circles), or None for a good one or no link at all."""
    if not path.is_symlink():
        return None
    try:
        target = path.resolve(strict=True)
    except RuntimeError:  # pathlib's "Symlink loop" (Python < 3.13)
        return "symlink loop"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop"
        return f"broken symlink (to {shown_path(os.readlink(path))})"
    if top is not None and target.is_dir():
        root = top.resolve()
        if root == target or target in root.parents:
            return f"symlink loop (points back to {shown_path(target)}; not followed)"
    return None


def expand_sources(specs: list[str]) -> list[SourceItem]:
    """Images, folders (recursive), globs, videos, webcam indices and stream URLs. Symlink
    loops and broken links inside a folder are named as skipped, never passed over silently."""
    items: list[SourceItem] = []
    for spec in specs:
        if live := live_kind(spec):
            items.append(SourceItem(live, spec))
        elif os.path.isdir(spec):
            for p in sorted(Path(spec).rglob("*")):
                if p.name.startswith("."):
                    continue
                why = _bad_link(p, Path(spec))
                if why:
                    items.append(SourceItem("skip", str(p), why))
                elif p.is_file():
                    item = _classify_file(p)
                    if item.kind != "skip" or p.suffix.lower() not in QUIET_EXTENSIONS:
                        items.append(item)
        elif os.path.exists(spec):
            items.append(_classify_file(Path(spec)))
        elif any(ch in spec for ch in "*?["):
            matches = sorted(glob.glob(spec, recursive=True))
            if not matches:
                items.append(SourceItem("missing", spec, "glob matched no files"))
            items += [_classify_file(Path(m)) for m in matches if os.path.isfile(m)]
        else:
            why = _bad_link(Path(spec))
            items.append(SourceItem("missing", spec, why or "no such file, folder, camera or stream"))
    return items


@dataclass
class Frame:
    image: np.ndarray
    index: int
    t: float  # seconds since the start (video time for files, wall time for live sources)


_END = object()


class FrameReader:
    """Iterate frames of a video file, webcam or stream, decoded in a background thread.

    Files are read completely (the queue blocks the decoder, no frame is dropped); live
    sources keep only the newest frames (old ones are dropped, so latency stays low)."""

    def __init__(
        self,
        spec: str,
        kind: str | None = None,
        queue_size: int = 8,
        max_outage: float = STREAM_MAX_OUTAGE,
        backoff: tuple[float, float] = (0.5, 8.0),
        stop: threading.Event | None = None,
    ):
        self.spec = spec
        self.kind = kind or live_kind(spec) or "video"
        self.live = self.kind in ("camera", "stream")
        self.max_outage = max_outage
        self.backoff = backoff
        self.queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.error: SourceError | None = None
        self.reconnects = 0
        self._stop = stop or threading.Event()  # a watch worker shares its own: shutdown ends retries
        self.name = shown_path(spec)  # what messages say: printable whatever the name's bytes
        quiet_opencv()
        self._cap = self._open_with_retry() if self.live else self._open()
        self.fps = video_fps(self._cap)
        self.frame_count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if not self.live else 0
        self.width = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        self.height = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        self._thread = threading.Thread(target=self._run, name=f"reader:{spec}", daemon=True)

    def _open(self, timeout: float | None = None) -> cv2.VideoCapture:
        """Open the source once. ``timeout``: seconds a stream may take to connect and to
        deliver each frame (FFmpeg's own default is 30 s, whatever ``max_outage`` says)."""
        if self.kind == "video" and not os.path.exists(self.spec):
            raise SourceError(f"{self.name}: no such video file")
        if self.kind == "camera":
            cap = cv2.VideoCapture(int(self.spec))
        elif self.kind == "stream":
            # never longer than FFmpeg's own 30 s: a camera retried for ever (max_outage inf)
            # still notices a dead connection and reconnects
            ms = int(1000 * max(0.5, min(timeout or self.max_outage, self.max_outage, 30.0)))
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
            cap = cv2.VideoCapture(self.spec, cv2.CAP_ANY, params)
        else:
            try:
                cap = open_video_file(self.spec)
            except OSError as exc:
                raise SourceError(f"{self.name}: cannot read ({exc.strerror or exc})") from None
        if not cap.isOpened():
            cap.release()
            what = {
                "camera": "cannot open webcam",
                "stream": "cannot connect to stream",
                "video": "cannot open video (corrupt or unsupported format)",
            }[self.kind]
            raise SourceError(f"{self.name}: {what}")
        return cap

    def _open_with_retry(self) -> cv2.VideoCapture:
        """A camera that is still booting gets the same backoff as one that dropped."""
        started, delay = time.monotonic(), self.backoff[0]
        while True:
            try:
                return self._open(self.max_outage - (time.monotonic() - started))
            except SourceError as exc:
                left = self.max_outage - (time.monotonic() - started)
                if left <= 0:
                    raise SourceError(f"{exc} (gave up after {self.max_outage:.0f} s of retries)") from None
                if self._stop.wait(min(delay, left)):
                    raise SourceError(f"{exc} (stopped while retrying)") from None
                delay = min(delay * 2, self.backoff[1])

    def _put(self, item) -> None:
        if self.live:
            while True:
                try:
                    self.queue.put_nowait(item)
                    return
                except queue.Full:
                    with contextlib.suppress(queue.Empty):
                        self.queue.get_nowait()  # drop the oldest frame
        else:
            while not self._stop.is_set():
                try:
                    self.queue.put(item, timeout=0.2)
                    return
                except queue.Full:
                    continue

    def _reconnect(self) -> bool:
        """Reopen a dropped live source with backoff; False once the outage is too long."""
        started, delay = time.monotonic(), self.backoff[0]
        self._cap.release()
        while not self._stop.is_set() and time.monotonic() - started < self.max_outage:
            if self._stop.wait(min(delay, max(0.0, self.max_outage - (time.monotonic() - started)))):
                break
            try:
                self._cap = self._open(self.max_outage - (time.monotonic() - started))
                self.reconnects += 1
                return True
            except SourceError:
                delay = min(delay * 2, self.backoff[1])
        return False

    def _run(self) -> None:
        index, t0 = 0, time.monotonic()
        try:
            while not self._stop.is_set():
                ok, image = self._cap.read()
                if not ok or image is None:
                    if self.live:
                        if self._reconnect():
                            continue
                        self.error = SourceError(
                            f"{self.name}: stream dropped and did not come back within {self.max_outage:.0f} s"
                        )
                    elif index == 0:
                        self.error = SourceError(f"{self.name}: no frame could be decoded (corrupt or empty video)")
                    elif index < self.frame_count - max(2, self.frame_count // 100):
                        # a file cut short: its header still declares every frame
                        self.error = SourceError(
                            f"{self.name}: only {index} of the {self.frame_count} frames its header declares "
                            "could be decoded (file cut short or corrupt); the results cover those"
                        )
                    break
                t = time.monotonic() - t0 if self.live else index / self.fps
                self._put(Frame(image, index, t))
                index += 1
        finally:
            self._cap.release()
            self._put(_END)

    def __iter__(self) -> Iterator[Frame]:
        self._thread.start()
        while True:
            item = self.queue.get()
            if item is _END:
                break
            yield item
        if self.error:
            raise self.error

    def close(self, timeout: float = 10.0) -> None:
        """Stop decoding and wait for the thread: an OpenCV capture still reading while the
        interpreter exits aborts the process ("terminate called without an active exception")."""
        self._stop.set()
        if self._thread.ident is None:  # never iterated: the capture is still ours to release
            self._cap.release()
        elif self._thread.is_alive():
            self._thread.join(timeout)
