"""From tracked faces to counted people: one final label per track, decided by a vote over
its frames, so a person who turns their head is still one person with one label.

A track is counted once it has ``min_frames`` analysed frames (inside the zone, if the
camera has one; after crossing the line, if it has one). Its label is decided when it
leaves the picture, or ``decide_after`` seconds after it appeared if it stays, so an alert
is never held back by someone lingering at the door. A decision is never revised."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..labels import LABELS, VIOLATIONS
from ..models.detector import Face


@dataclass
class Person:
    """A decided track."""

    track_id: int
    label: str
    score: float  # weighted mean probability of the decided label over the track
    frames: int
    first_t: float
    last_t: float
    probs: dict[str, float]
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    frame: np.ndarray | None = None  # the frame where the face showed its label best

    @property
    def violation(self) -> bool:
        return self.label in VIOLATIONS


@dataclass
class _Track:
    track_id: int
    first_t: float
    last_t: float
    frames: int = 0
    weight: float = 0.0
    prob_sum: np.ndarray = field(default_factory=lambda: np.zeros(len(LABELS)))
    crossed: bool = False
    best: dict = field(default_factory=dict)  # label -> (score, box, frame)
    last_box: tuple = (0.0, 0.0, 0.0, 0.0)
    decided: bool = False


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

    def test(self, faces: list[Face]) -> tuple[np.ndarray, np.ndarray]:
        """(inside zone, crossed the line this frame) for each face."""
        n = len(faces)
        inside, crossed = np.ones(n, bool), np.zeros(n, bool)
        if not n:
            return inside, crossed
        dets = self._sv.Detections(
            xyxy=np.array([f.box for f in faces], np.float32),
            tracker_id=np.array([f.track_id if f.track_id is not None else -1 for f in faces]),
        )
        if self.zone is not None:
            inside = self.zone.trigger(dets)
        if self.line is not None:
            went_in, went_out = self.line.trigger(dets)
            crossed = {"in": went_in, "out": went_out, "any": went_in | went_out}[self.direction]
        return inside, crossed


class PeopleCounter:
    def __init__(
        self,
        min_frames: int = 5,
        decide_after: float = 5.0,
        lost_seconds: float = 1.0,
        region: Region | None = None,
    ):
        self.min_frames = min_frames
        self.decide_after = decide_after
        self.lost_seconds = lost_seconds
        self.region = region if region else None
        self.tracks: dict[int, _Track] = {}

    def _eligible(self, tr: _Track) -> bool:
        line_ok = self.region is None or self.region.line is None or tr.crossed
        return tr.frames >= self.min_frames and line_ok

    def _decide(self, tr: _Track) -> Person:
        tr.decided = True
        mean = tr.prob_sum / max(tr.weight, 1e-9)
        k = int(mean.argmax())
        label = LABELS[k]
        _, box, frame = tr.best.get(label, (0.0, tr.last_box, None))
        tr.best = {}  # frames are large: hold them only while the vote is open
        return Person(
            tr.track_id,
            label,
            float(mean[k]),
            tr.frames,
            tr.first_t,
            tr.last_t,
            {lb: round(float(v), 4) for lb, v in zip(LABELS, mean)},
            tuple(float(v) for v in box),
            frame,
        )

    def update(self, faces: list[Face], frame: np.ndarray | None, t: float) -> list[Person]:
        """Add one analysed frame; returns the people decided by it (usually none)."""
        tracked = [f for f in faces if f.track_id is not None]
        inside, crossed = self.region.test(tracked) if self.region else (np.ones(len(tracked), bool), None)
        decided = []
        for i, face in enumerate(tracked):
            tr = self.tracks.get(face.track_id)
            if tr is None:
                tr = self.tracks[face.track_id] = _Track(face.track_id, t, t)
            tr.last_t, tr.last_box = t, face.box
            if crossed is not None and crossed[i]:
                tr.crossed = True
            if tr.decided or not inside[i]:
                continue
            probs = np.array([face.probs.get(lb, 0.0) for lb in LABELS])
            tr.frames += 1
            tr.weight += face.face_score
            tr.prob_sum += face.face_score * probs
            for label in VIOLATIONS:  # their best frame becomes the event's snapshot
                score = face.face_score * face.probs.get(label, 0.0)
                if frame is not None and score > tr.best.get(label, (-1.0,))[0]:
                    tr.best[label] = (score, face.box, frame)
            if t - tr.first_t >= self.decide_after and self._eligible(tr):
                decided.append(self._decide(tr))
        # tracks that left the picture: decide (if long enough) and forget
        for track_id in [k for k, tr in self.tracks.items() if t - tr.last_t > self.lost_seconds]:
            tr = self.tracks.pop(track_id)
            if not tr.decided and self._eligible(tr):
                decided.append(self._decide(tr))
        return decided

    def flush(self) -> list[Person]:
        """Decide every open track that qualifies (end of a video, shutdown)."""
        out = [self._decide(tr) for tr in self.tracks.values() if not tr.decided and self._eligible(tr)]
        self.tracks.clear()
        return out
