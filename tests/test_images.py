"""Bad images get one clear reason and cost no memory."""

import struct
import zlib

import cv2
import numpy as np
import pytest

from maskwatch.errors import BadInputError, ImageTooLargeError
from maskwatch.images import decode_image, read_image


def png_bomb(width: int, height: int) -> bytes:
    """A truthful, tiny PNG of width x height 1-bit pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    comp = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)
    body = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def test_decompression_bomb_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_bomb(20000, 20000))
    assert path.stat().st_size < 2_000_000
    with pytest.raises(ImageTooLargeError, match="20000x20000"):
        read_image(path)


def test_truncated_jpeg_is_an_error(andrewmvd, tmp_path):
    data = (andrewmvd / "images" / "maksssksksss0.jpg").read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadInputError, match="truncated"):
        read_image(path)


def test_wrong_type_empty_and_missing(tmp_path):
    (tmp_path / "notes.jpg").write_text("not a picture")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(BadInputError, match="not an image"):
        read_image(tmp_path / "notes.jpg")
    with pytest.raises(BadInputError, match="empty"):
        read_image(tmp_path / "empty.png")
    with pytest.raises(BadInputError, match="no such file"):
        read_image(tmp_path / "nope.jpg")


def test_corrupt_header(tmp_path):
    with pytest.raises(BadInputError, match="corrupt"):
        decode_image(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "x.png")


def test_real_image_decodes_as_bgr(andrewmvd):
    image = read_image(andrewmvd / "images" / "maksssksksss0.jpg")
    assert image.dtype == np.uint8 and image.shape == (366, 512, 3)
    assert np.array_equal(image, cv2.imread(str(andrewmvd / "images" / "maksssksksss0.jpg")))


def test_bytes_after_the_jpeg_end_marker_are_not_truncation(andrewmvd, tmp_path):
    """Phones and cameras append data after the end marker; such photos are valid."""
    data = (andrewmvd / "images" / "maksssksksss0.jpg").read_bytes()
    path = tmp_path / "with-trailer.jpg"
    path.write_bytes(data + b"MAKERNOTE" * 200)
    assert read_image(path).shape == (366, 512, 3)
