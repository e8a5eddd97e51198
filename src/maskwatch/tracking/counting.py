"""From tracked faces to counted people: one final label per track, decided by a vote over
its frames, so a person who turns their head is still one person with one label.

A track is counted once it has ``min_frames`` analysed frames (inside the zone, if the
camera has one; after crossing the line, if it has one). Its label is decided when it
leaves the picture, or ``decide_after`` seconds after it appeared if it stays, so an alert
is never held back by someone lingering at the door. A decision is never revised."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..detections import Detections
from ..labels import LABELS, VIOLATIONS
from .zones import Region


@dataclass
class CountedPerson:
    """A decided track: one person with one label (what the events database stores as a
    ``people`` row, and, for a violation, an event)."""

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

    def _decide(self, tr: _Track) -> CountedPerson:
        tr.decided = True
        mean = tr.prob_sum / max(tr.weight, 1e-9)
        k = int(mean.argmax())
        label = LABELS[k]
        _, box, frame = tr.best.get(label, (0.0, tr.last_box, None))
        tr.best = {}  # frames are large: hold them only while the vote is open
        return CountedPerson(
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

    def update(self, dets: Detections, frame: np.ndarray | None, t: float) -> list[CountedPerson]:
        """Add one analysed frame's tracked faces; returns the people decided by it (usually none)."""
        tracked = dets[dets.tracker_id >= 0]
        inside, crossed = self.region.test(tracked) if self.region else (np.ones(len(tracked), bool), None)
        decided = []
        violations = [LABELS.index(label) for label in VIOLATIONS]
        for i, (track_id, box, fs, probs) in enumerate(
            zip(tracked.tracker_id.tolist(), tracked.xyxy.tolist(), tracked.face_score.tolist(), tracked.probs)
        ):
            box = tuple(box)
            tr = self.tracks.get(track_id)
            if tr is None:
                tr = self.tracks[track_id] = _Track(track_id, t, t)
            tr.last_t, tr.last_box = t, box
            if crossed is not None and crossed[i]:
                tr.crossed = True
            if tr.decided or not inside[i]:
                continue
            tr.frames += 1
            tr.weight += fs
            tr.prob_sum += fs * probs.astype(np.float64)
            for k in violations:  # their best frame becomes the event's snapshot
                score = fs * float(probs[k])
                if frame is not None and score > tr.best.get(LABELS[k], (-1.0,))[0]:
                    tr.best[LABELS[k]] = (score, box, frame)
            if t - tr.first_t >= self.decide_after and self._eligible(tr):
                decided.append(self._decide(tr))
        # tracks that left the picture: decide (if long enough) and forget
        for track_id in [k for k, tr in self.tracks.items() if t - tr.last_t > self.lost_seconds]:
            tr = self.tracks.pop(track_id)
            if not tr.decided and self._eligible(tr):
                decided.append(self._decide(tr))
        return decided

    def flush(self) -> list[CountedPerson]:
        """Decide every open track that qualifies (end of a video, shutdown)."""
        out = [self._decide(tr) for tr in self.tracks.values() if not tr.decided and self._eligible(tr)]
        self.tracks.clear()
        return out
