"""Reading images safely: the type is sniffed from the bytes, the size is checked before
decoding (a 20000x20000 PNG is a few kB on disk and 1.2 GB in memory), and a truncated file
is an error rather than a half-grey picture that silently yields wrong detections."""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from .defaults import MAX_IMAGE_BYTES, MAX_PIXELS  # 50 MP covers every phone and CCTV camera we know of
from .errors import BadInputError, ImageTooLargeError, NotAnImageError

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_EXTENSIONS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".ts"}


def sniff_image_format(data: bytes) -> str | None:
    """The image format from magic bytes, or None: file names lie, bytes do not."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:2] == b"BM":
        return "bmp"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    return None


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the header alone, without decoding the pixels."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None  # we enforce our own limit below, with a clearer message
    with Image.open(io.BytesIO(data)) as im:
        return im.size


#: the bytes that end a complete file, and how far from the end they are looked for
_END_MARKERS = {"jpeg": (b"\xff\xd9", 64), "png": (b"IEND", 32)}


def _is_truncated(fmt: str, data: bytes) -> bool:
    """True when the image data stops early. The end marker is looked for first (cheap); where
    it is missing - or only hidden by trailing bytes that cameras and phones append after it - a
    full decode by Pillow, which raises on a short file, decides."""
    if fmt not in _END_MARKERS:
        return False  # no cheap end check for this format; OpenCV's decode is the judge
    marker, window = _END_MARKERS[fmt]
    if marker in data[-window:]:
        return False
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
    except OSError:
        return True
    return False


def shown_path(path: str | os.PathLike) -> str:
    """A path as text that can always be printed and encoded: bytes of a name that are not
    UTF-8 (Python keeps them as surrogates) appear as ``\\xff`` escapes."""
    text = os.fspath(path)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return os.fsencode(text).decode("utf-8", "backslashreplace")


_CAPTURE_LOCK = threading.Lock()
#: one file for what the codecs print, made at first use and emptied after each image (a new
#: temporary file per image would cost a create and a delete on every decode of a batch)
_SINK: list = []


@contextlib.contextmanager
def _native_messages():
    """What C libraries (libjpeg, libpng) print on the process's stderr meanwhile, as a list
    holding one string once the block ends. Where fd 2 cannot be redirected, nothing is caught."""
    caught: list[str] = []
    with _CAPTURE_LOCK:
        try:
            if not _SINK:
                _SINK.append(tempfile.TemporaryFile())  # noqa: SIM115 - lives as long as the process
            sink = _SINK[0]
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            saved = os.dup(2)
        except OSError:
            saved = None
        if saved is None:
            yield caught
            return
        os.dup2(sink.fileno(), 2)
        try:
            yield caught
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            caught.append(sink.read(64 * 1024).decode("utf-8", "replace"))
            sink.seek(0)
            sink.truncate()


#: libjpeg's words for a picture whose data ends before the size its header declares
_PREMATURE = re.compile(r"premature end of (data segment|JPEG file)", re.I)


def _judge_messages(text: str, fmt: str, name: str, shape, warn: Callable[[str], None]) -> None:
    for line in (ln.strip() for ln in text.splitlines()):
        if not line:
            continue
        if fmt == "jpeg" and _PREMATURE.search(line):
            h, w = shape[:2]
            raise BadInputError(
                name, f"corrupt jpeg: the header declares {w}x{h} pixels but the image data ends early ({line})"
            )
        warn(f"{name}: {fmt} decoder: {line}")


def decode_image(
    data: bytes, name: str = "<bytes>", max_pixels: int | None = None, warn: Callable[[str], None] | None = None
) -> np.ndarray:
    """Decode bytes to a BGR uint8 array or raise :class:`BadInputError` saying why.

    With ``warn``, what the image codec itself prints (libjpeg's "Corrupt JPEG data: ...") is
    caught rather than left on stderr unnamed: a picture whose data ends before the size its
    header declares is refused, any other codec message goes to ``warn`` naming the file."""
    limit = MAX_PIXELS if max_pixels is None else max_pixels
    if not data:
        raise BadInputError(name, "empty file")
    fmt = sniff_image_format(data)
    if fmt is None:
        raise NotAnImageError(name, "not an image (unrecognised file type)")
    try:
        width, height = image_size(data)
    except Exception as exc:  # PIL raises many types for broken headers
        raise BadInputError(name, f"corrupt {fmt} header ({exc.__class__.__name__})") from None
    if width * height > limit:
        raise ImageTooLargeError(
            name,
            f"{width}x{height} = {width * height:,} pixels exceeds the limit of {limit:,} "
            "(set MASKWATCH_MAX_PIXELS to raise it)",
        )
    if _is_truncated(fmt, data):
        raise BadInputError(name, f"truncated {fmt} file")
    buffer = np.frombuffer(data, np.uint8)
    try:
        if warn is None:
            image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
        else:
            with _native_messages() as caught:
                image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    except cv2.error as exc:  # an OpenCV assertion is a bad file, not a crash of the batch
        raise BadInputError(name, f"corrupt {fmt} data ({str(exc).strip().splitlines()[-1][:120]})") from None
    if image is None or image.size == 0:
        raise BadInputError(name, f"corrupt {fmt} data")
    if warn is not None and caught and caught[0].strip():
        _judge_messages(caught[0], fmt, name, image.shape, warn)
    return image


def read_image(
    path: str | os.PathLike,
    max_pixels: int | None = None,
    max_bytes: int | None = None,
    warn: Callable[[str], None] | None = None,
) -> np.ndarray:
    """Read an image file as BGR (OpenCV's convention), refusing bad files with a reason.

    A file larger on disk than ``max_bytes`` (default :data:`~maskwatch.defaults.MAX_IMAGE_BYTES`)
    is refused before it is read, and no more than that is ever read (a pipe or device that
    reports no size included). Any file name works, bytes that are not UTF-8 included: OpenCV
    only ever sees the bytes. ``warn``: see :func:`decode_image`."""
    p = Path(path)
    name = shown_path(p)
    limit = MAX_IMAGE_BYTES if max_bytes is None else max_bytes
    too_large = f"exceeds the limit of {limit:,} bytes for an image file (set MASKWATCH_MAX_IMAGE_BYTES to raise it)"
    try:
        with p.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > limit:
                raise ImageTooLargeError(name, f"{size:,} bytes on disk {too_large}")
            data = fh.read(limit + 1)
    except FileNotFoundError:
        raise BadInputError(name, "no such file") from None
    except IsADirectoryError:
        raise BadInputError(name, "is a folder, not an image") from None
    except OSError as exc:
        raise BadInputError(name, f"cannot read ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise ImageTooLargeError(name, f"more than {limit:,} bytes {too_large}")
    return decode_image(data, name, max_pixels, warn)


def as_bgr(image: np.ndarray) -> np.ndarray:
    """Accept gray, BGR and BGRA arrays; everything downstream sees 3-channel uint8 BGR."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"expected a numpy image or a path, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise ValueError(f"expected an HxW, HxWx3 or HxWx4 image, got shape {image.shape}")
