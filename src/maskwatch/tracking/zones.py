"""Where a face counts: a polygon zone (the door) and/or a line to cross, both from
supervision, tested at the centre of the face box."""

from __future__ import annotations

import numpy as np

from ..detections import Detections


class Region:
    """Where a face counts: a polygon zone (the door) and/or a line to cross, both from
    supervision, tested at the centre of the face box."""

    def __init__(self, zone: list[list[float]] | None = None, line: dict | None = None):
        import supervision as sv

        self._sv = sv
        anchor = (sv.Position.CENTER,)
        self.zone = sv.PolygonZone(np.array(zone, dtype=np.int64), triggering_anchors=anchor) if zone else None
        self.line = None
        self.direction = "any"
        if line:
            start, end = line["start"], line["end"]
            self.line = sv.LineZone(sv.Point(*start), sv.Point(*end), triggering_anchors=anchor)
            self.direction = line.get("direction", "any")
            if self.direction not in ("in", "out", "any"):
                raise ValueError(f"line direction must be in, out or any, not {self.direction!r}")

    def __bool__(self) -> bool:
        return self.zone is not None or self.line is not None

    def test(self, faces: Detections) -> tuple[np.ndarray, np.ndarray]:
        """(inside zone, crossed the line this frame) for each face."""
        n = len(faces)
        inside, crossed = np.ones(n, bool), np.zeros(n, bool)
        if not n:
            return inside, crossed
        dets = self._sv.Detections(xyxy=faces.xyxy, tracker_id=faces.tracker_id)
        if self.zone is not None:
            inside = self.zone.trigger(dets)
        if self.line is not None:
            went_in, went_out = self.line.trigger(dets)
            crossed = {"in": went_in, "out": went_out, "any": went_in | went_out}[self.direction]
        return inside, crossed
