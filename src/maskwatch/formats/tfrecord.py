"""TFRecord + ``label_map.pbtxt`` in the layout the TensorFlow Object Detection API reads,
written without TensorFlow: a ``tf.train.Example`` is a small protobuf, encoded here by hand,
and each record is framed with masked CRC32C checksums as TensorFlow expects.

A reader is included so the files can be checked (and brought back) without TensorFlow."""

from __future__ import annotations

import struct
from pathlib import Path

from ..errors import BadInputError
from ..labels import LABELS
from .dataset import Box, Dataset, ImageRecord

# --- CRC32C (Castagnoli), table-driven ---------------------------------------------------
_POLY = 0x82F63B78
_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ _POLY if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# --- protobuf wire format -----------------------------------------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _ld(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _feature(value) -> bytes:
    """tf.train.Feature: bytes_list = 1, float_list = 2, int64_list = 3 (packed)."""
    values = value if isinstance(value, list) else [value]
    if values and isinstance(values[0], (bytes, str)):
        inner = b"".join(_ld(1, v.encode() if isinstance(v, str) else v) for v in values)
        return _ld(1, inner)
    if values and isinstance(values[0], float):
        return _ld(2, _ld(1, struct.pack(f"<{len(values)}f", *values)))
    return _ld(3, _ld(1, b"".join(_varint(int(v) & 0xFFFFFFFFFFFFFFFF) for v in values)))


def encode_example(features: dict) -> bytes:
    entries = b"".join(_ld(1, _ld(1, k.encode()) + _ld(2, _feature(v))) for k, v in features.items())
    return _ld(1, entries)  # Example.features = 1; Features.feature (map) = 1


def record_bytes(payload: bytes) -> bytes:
    length = struct.pack("<Q", len(payload))
    return length + struct.pack("<I", _masked(crc32c(length))) + payload + struct.pack("<I", _masked(crc32c(payload)))


def od_api_example(record: ImageRecord) -> bytes:
    data = record.path.read_bytes()
    w, h = record.width, record.height
    fmt = b"png" if data.startswith(b"\x89PNG") else b"jpeg"
    return encode_example(
        {
            "image/height": h,
            "image/width": w,
            "image/filename": record.path.name,
            "image/source_id": record.path.name,
            "image/encoded": data,
            "image/format": fmt,
            "image/object/bbox/xmin": [float(b.x1 / w) for b in record.boxes],
            "image/object/bbox/xmax": [float(b.x2 / w) for b in record.boxes],
            "image/object/bbox/ymin": [float(b.y1 / h) for b in record.boxes],
            "image/object/bbox/ymax": [float(b.y2 / h) for b in record.boxes],
            "image/object/class/text": [b.label for b in record.boxes],
            "image/object/class/label": [LABELS.index(b.label) + 1 for b in record.boxes],
        }
    )


def label_map_pbtxt() -> str:
    return "".join(f"item {{\n  id: {i + 1}\n  name: '{name}'\n}}\n" for i, name in enumerate(LABELS))


def write_tfrecord(ds: Dataset, out: Path, name: str = "data.tfrecord") -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    target = out / name
    with target.open("wb") as fh:
        for record in ds.images:
            fh.write(record_bytes(od_api_example(record)))
    (out / "label_map.pbtxt").write_text(label_map_pbtxt())
    return target


# --- reading back ----------------------------------------------------------------------------
def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = n = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def _fields(buf: bytes):
    i = 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire != 2:
            raise ValueError(f"unexpected wire type {wire}")
        size, i = _read_varint(buf, i)
        yield field, buf[i : i + size]
        i += size


def decode_example(payload: bytes) -> dict:
    out: dict = {}
    for _, features in _fields(payload):
        for _, entry in _fields(features):
            key = value = None
            for f, v in _fields(entry):
                if f == 1:
                    key = v.decode()
                else:
                    value = v
            for kind, data in _fields(value):
                inner = b"".join(v for _, v in _fields(data))
                if kind == 1:
                    out[key] = [v for _, v in _fields(data)]
                elif kind == 2:
                    out[key] = list(struct.unpack(f"<{len(inner) // 4}f", inner))
                else:
                    nums, j = [], 0
                    while j < len(inner):
                        n, j = _read_varint(inner, j)
                        nums.append(n)
                    out[key] = nums
    return out


def read_tfrecord(path: Path):
    """Yield decoded examples, verifying every checksum.

    Args:
        path: a TFRecord file.

    Returns:
        An iterator of examples, ``{feature name: list of values}``.

    Raises:
        BadInputError: a record whose length or payload checksum does not match.
    """
    data = Path(path).read_bytes()
    i = 0
    while i < len(data):
        length_bytes = data[i : i + 8]
        (length,) = struct.unpack("<Q", length_bytes)
        (len_crc,) = struct.unpack("<I", data[i + 8 : i + 12])
        if len_crc != _masked(crc32c(length_bytes)):
            raise BadInputError(str(path), f"corrupt record length at byte {i}")
        payload = data[i + 12 : i + 12 + length]
        (crc,) = struct.unpack("<I", data[i + 12 + length : i + 16 + length])
        if crc != _masked(crc32c(payload)):
            raise BadInputError(str(path), f"corrupt record at byte {i}")
        yield decode_example(payload)
        i += 16 + length


def example_to_record(ex: dict, folder: Path) -> ImageRecord:
    w, h = ex["image/width"][0], ex["image/height"][0]
    boxes = [
        Box(x1 * w, y1 * h, x2 * w, y2 * h, label.decode())
        for x1, y1, x2, y2, label in zip(
            ex["image/object/bbox/xmin"],
            ex["image/object/bbox/ymin"],
            ex["image/object/bbox/xmax"],
            ex["image/object/bbox/ymax"],
            ex["image/object/class/text"],
        )
    ]
    return ImageRecord(folder / ex["image/filename"][0].decode(), boxes, w, h)
