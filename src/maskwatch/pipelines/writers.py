"""Result sinks for ``maskwatch detect``: JSON Lines and CSV, one row per face.

The field names are a contract other tools rely on: ``image`` (source), ``frame`` and ``t``
(videos/streams), ``x1 y1 x2 y2`` (pixels of the original image), ``label``, ``score``,
``landmarks`` (where known).

Files only ever hold whole lines: rows are written a line at a time and, when a write fails
(a full disk), the file is cut back to the last whole row before the error is raised. Any file
name can be written: JSON escapes the bytes of a name that are not UTF-8 (``"\\udcff"``, which
``json.loads`` and ``os.fsencode`` turn back into the name), CSV writes them as they are on disk."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import IO

from ..detections import Detections, face_rows
from ..errors import OutputError
from ..images import shown_path

CSV_FIELDS = ["image", "frame", "t", "track_id", "x1", "y1", "x2", "y2", "label", "score", "landmarks"]
#: rows are kept in memory up to this many bytes between writes
_BUFFER = 64 * 1024


class _Lines:
    """One output of whole lines: a file (cut back to its last whole line when a write fails)
    or stdout ("-")."""

    def __init__(self, path: str, errors: str):
        self.path, self.errors = path, errors
        self.rows = 0  # rows safely on disk
        self._pending = bytearray()
        self._pending_rows = 0
        self._good = 0  # bytes of whole lines on disk
        self._fh: IO[bytes] | None = None
        self.failed = False
        if path == "-":
            return
        p = Path(path)
        if p.is_dir():
            raise OutputError(
                f"{shown_path(path)}: is a folder; give a file name (for example {shown_path(p)}/faces.jsonl)"
            )
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(p, "wb", buffering=0)  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise OutputError.cannot_write(path, exc) from None

    def write(self, line: str) -> None:
        if self.failed:
            return
        if self._fh is None:  # stdout: a name's odd bytes shown as \xff escapes
            sys.stdout.write(line.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"))
            self.rows += 1
            return
        self._pending += line.encode("utf-8", self.errors)
        self._pending_rows += 1
        if len(self._pending) >= _BUFFER:
            self.flush()

    def flush(self) -> None:
        if self._fh is None:
            if self.path == "-" and not self.failed:
                sys.stdout.flush()
            return
        if self.failed or not self._pending:
            return
        try:
            data, done = bytes(self._pending), 0
            while done < len(data):
                done += self._fh.write(data[done:]) or 0
        except OSError as exc:
            self.failed = True
            with contextlib.suppress(OSError):
                os.ftruncate(self._fh.fileno(), self._good)  # no half-written last line
            raise OutputError.cannot_write(
                self.path, exc, f"it holds the {self.rows} whole row(s) written before"
            ) from None
        self._good += len(self._pending)
        self.rows += self._pending_rows
        self._pending.clear()
        self._pending_rows = 0

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._fh is not None:
                with contextlib.suppress(OSError):
                    self._fh.close()
                self._fh = None


class FaceWriter:
    """Writes each face as it is found (flushed at least after every source), so a long video
    or a run that dies leaves its results so far, in whole lines."""

    def __init__(self, json_path: str | None = None, csv_path: str | None = None):
        self._json = self._csv = None
        if json_path:
            self._json = _Lines(json_path, "strict")  # ensure_ascii: every line is plain ASCII
        if csv_path:
            try:
                self._csv = _Lines(csv_path, "surrogateescape")
            except OutputError:
                if self._json is not None:
                    self._json.close()
                raise
            self._write_csv(dict(zip(CSV_FIELDS, CSV_FIELDS)))

    def write(self, dets: Detections, source: str, frame: int | None = None, t: float | None = None) -> None:
        """One row per face of ``dets`` (see :func:`~maskwatch.detections.face_rows`)."""
        for row in face_rows(dets, source, frame, t):
            self.write_row(row)

    def _write_csv(self, row: dict) -> None:
        buf = io.StringIO()
        csv.DictWriter(buf, CSV_FIELDS, extrasaction="ignore").writerow(row)
        self._csv.write(buf.getvalue())

    def write_row(self, row: dict) -> None:
        if self._json is not None:
            self._json.write(json.dumps(row, ensure_ascii=True) + "\n")
        if self._csv is not None:
            flat = dict(row)
            if "landmarks" in flat:
                flat["landmarks"] = json.dumps(flat["landmarks"])
            self._write_csv(flat)

    def flush(self) -> None:
        for out in (self._json, self._csv):
            if out is not None:
                out.flush()

    def close(self) -> None:
        """Flush and close both; the first write error is raised once both are closed."""
        error = None
        for out in (self._json, self._csv):
            if out is not None:
                try:
                    out.close()
                except OutputError as exc:
                    error = error or exc
        if error is not None:
            raise error
