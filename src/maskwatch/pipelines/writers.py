"""Result sinks for ``maskwatch detect``: JSON Lines and CSV, one row per face.

The field names are a contract other tools rely on: ``image`` (source), ``frame`` and ``t``
(videos/streams), ``x1 y1 x2 y2`` (pixels of the original image), ``label``, ``score``,
``landmarks`` (where known)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import IO

from ..detections import Detections, face_rows
from ..errors import OutputError

CSV_FIELDS = ["image", "frame", "t", "track_id", "x1", "y1", "x2", "y2", "label", "score", "landmarks"]


def _open(path: str) -> tuple[IO[str], bool]:
    if path == "-":
        return sys.stdout, False
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        return p.open("w", encoding="utf-8", newline=""), True
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None


class FaceWriter:
    """Writes each face as soon as it is found, so a long video leaves partial results."""

    def __init__(self, json_path: str | None = None, csv_path: str | None = None):
        self._json = self._csv_fh = self._csv = None
        self._close: list[IO[str]] = []
        if json_path:
            self._json, own = _open(json_path)
            if own:
                self._close.append(self._json)
        if csv_path:
            self._csv_fh, own = _open(csv_path)
            if own:
                self._close.append(self._csv_fh)
            self._csv = csv.DictWriter(self._csv_fh, CSV_FIELDS, extrasaction="ignore")
            self._csv.writeheader()

    def write(self, dets: Detections, source: str, frame: int | None = None, t: float | None = None) -> None:
        """One row per face of ``dets`` (see :func:`~maskwatch.detections.face_rows`)."""
        for row in face_rows(dets, source, frame, t):
            self.write_row(row)

    def write_row(self, row: dict) -> None:
        if self._json is not None:
            self._json.write(json.dumps(row) + "\n")
        if self._csv is not None:
            flat = dict(row)
            if "landmarks" in flat:
                flat["landmarks"] = json.dumps(flat["landmarks"])
            self._csv.writerow(flat)

    def flush(self) -> None:
        for fh in (self._json, self._csv_fh):
            if fh is not None:
                fh.flush()

    def close(self) -> None:
        self.flush()
        for fh in self._close:
            fh.close()
