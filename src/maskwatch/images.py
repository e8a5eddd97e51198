"""Reading images safely: the type is sniffed from the bytes, the size is checked before
decoding (a 20000x20000 PNG is a few kB on disk and 1.2 GB in memory), and a truncated file
is an error rather than a half-grey picture that silently yields wrong detections."""

from __future__ import annotations

import io
import os
from pathlib import Path

import cv2
import numpy as np

from .defaults import MAX_PIXELS  # 50 MP covers every phone and CCTV camera we know of
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


def decode_image(data: bytes, name: str = "<bytes>", max_pixels: int | None = None) -> np.ndarray:
    """Decode bytes to a BGR uint8 array or raise :class:`BadInputError` saying why."""
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
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise BadInputError(name, f"corrupt {fmt} data")
    return image


def read_image(path: str | os.PathLike, max_pixels: int | None = None) -> np.ndarray:
    """Read an image file as BGR (OpenCV's convention), refusing bad files with a reason."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise BadInputError(str(p), "no such file") from None
    except IsADirectoryError:
        raise BadInputError(str(p), "is a folder, not an image") from None
    except OSError as exc:
        raise BadInputError(str(p), f"cannot read ({exc.strerror or exc})") from None
    return decode_image(data, str(p), max_pixels)


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
