"""``Detections``: the one type every piece of maskwatch takes and returns for the faces of
one frame, from the model to every sink (tracker, counting, drawing, writers, the REST,
TF-Serving and gRPC answers, the event store, evaluation).

It is columnar (one numpy array per field), so a frame with 20 faces costs 20 rows, not 20
objects, and filtering is one boolean index. The design is supervision's ``Detections``, and
:meth:`Detections.to_supervision` / :meth:`Detections.from_supervision` hand it to
supervision's and ``trackers``' tools without copying the arrays. Why not
``supervision.Detections`` itself, measured on this machine (``benchmarks/bench_detections.py``):
importing supervision costs about 1.1 s (its annotators pull in SciPy), which every
``maskwatch detect photo.jpg`` would pay while the whole detector loads in 0.4 s, and its
constructor validates every field on every index; this type does neither and is no slower
per frame.

Row order is by descending ``confidence``. ``tracker_id`` is -1 where no track is
confirmed. :class:`Face` is a per-face view for the Python API, made from the columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from .labels import LABELS

#: Landmarks per face: left eye, right eye, nose tip, left and right mouth corner.
N_LANDMARKS = 5


@dataclass(frozen=True)
class Face:
    """One face, read from a :class:`Detections` row (for the Python API and templates).

    ``score`` is face confidence x label probability: a detection score as COCO evaluation
    reads it. ``face_score`` and ``probs`` keep the two parts apart for analytics."""

    box: tuple[float, float, float, float]
    label: str
    score: float
    face_score: float
    probs: dict[str, float]
    landmarks: tuple[tuple[float, float], ...] | None = None
    track_id: int | None = None  # set on video frames by the tracker: one id per person


@dataclass
class Detections:
    """The faces of one image or frame, one row per face.

    Attributes:
        xyxy: (N, 4) float32 boxes in pixels of the original image.
        confidence: (N,) float32, face score x probability of the label.
        class_id: (N,) int, index into :data:`maskwatch.labels.LABELS`.
        probs: (N, 3) float32 class probabilities in ``LABELS`` order.
        face_score: (N,) float32, how sure the face finder is that this is a face.
        landmarks: (N, 5, 2) float32 eyes, nose tip, mouth corners (pixels).
        tracker_id: (N,) int, the person's track on a video; -1 where none.
        data: extra per-face columns (each of length N), kept through indexing and merge.
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    probs: np.ndarray
    face_score: np.ndarray
    landmarks: np.ndarray
    tracker_id: np.ndarray
    data: dict[str, np.ndarray] = field(default_factory=dict)

    # -- making --------------------------------------------------------------------------
    @classmethod
    def empty(cls) -> Detections:
        return cls(
            np.zeros((0, 4), np.float32),
            np.zeros(0, np.float32),
            np.zeros(0, np.int64),
            np.zeros((0, len(LABELS)), np.float32),
            np.zeros(0, np.float32),
            np.zeros((0, N_LANDMARKS, 2), np.float32),
            np.full(0, -1, np.int64),
        )

    @classmethod
    def from_scores(
        cls, xyxy: np.ndarray, face_score: np.ndarray, probs: np.ndarray, landmarks: np.ndarray | None = None
    ) -> Detections:
        """Rows from a face finder and a label model: the label is the most probable class,
        the confidence face score x its probability, rows sorted by confidence (stable)."""
        n = len(xyxy)
        if n == 0:
            return cls.empty()
        probs = np.asarray(probs, np.float32).reshape(n, len(LABELS))
        face_score = np.asarray(face_score, np.float32).reshape(n)
        xyxy = np.asarray(xyxy, np.float32).reshape(n, 4)
        marks = np.zeros((n, N_LANDMARKS, 2), np.float32) if landmarks is None else landmarks
        marks = np.asarray(marks, np.float32).reshape(n, N_LANDMARKS, 2)
        class_id = probs.argmax(1)
        confidence = face_score * probs[np.arange(n), class_id]
        if n > 1:
            order = np.argsort(-confidence, kind="stable")
            xyxy, confidence, class_id = xyxy[order], confidence[order], class_id[order]
            probs, face_score, marks = probs[order], face_score[order], marks[order]
        return cls(xyxy, confidence, class_id, probs, face_score, marks, np.full(n, -1, np.int64))

    @classmethod
    def merge(cls, parts: list[Detections]) -> Detections:
        """One Detections of all rows of ``parts`` in order; data columns all parts share."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        keys = set.intersection(*(set(p.data) for p in parts))
        return cls(
            *(np.concatenate([getattr(p, name) for p in parts]) for name in _COLUMNS),
            data={k: np.concatenate([p.data[k] for p in parts]) for k in keys},
        )

    # -- reading -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.xyxy)

    def is_empty(self) -> bool:
        return len(self.xyxy) == 0

    def __getitem__(self, index) -> Detections:
        """Rows by int, slice, index array or boolean mask, as numpy indexes; always a
        Detections (an int gives one row)."""
        if isinstance(index, (int, np.integer)):
            index = slice(index, index + 1 or None)
        return Detections(
            *(getattr(self, name)[index] for name in _COLUMNS),
            data={k: v[index] for k, v in self.data.items()},
        )

    def __iter__(self) -> Iterator[Face]:
        return iter(self.faces())

    def __eq__(self, other) -> bool:
        if not isinstance(other, Detections) or len(self) != len(other) or set(self.data) != set(other.data):
            return False
        return all(np.array_equal(getattr(self, n), getattr(other, n)) for n in _COLUMNS) and all(
            np.array_equal(v, other.data[k]) for k, v in self.data.items()
        )

    @property
    def labels(self) -> list[str]:
        return [LABELS[k] for k in self.class_id.tolist()]

    def above(self, min_score: float) -> Detections:
        """The rows whose confidence is at least ``min_score`` (compared in double precision,
        as Python floats are)."""
        keep = self.confidence.astype(np.float64) >= min_score
        return self if keep.all() else self[keep]

    def with_tracks(self, tracker_id: np.ndarray) -> Detections:
        """The same rows with ``tracker_id`` replaced (the other columns are shared)."""
        return Detections(
            self.xyxy,
            self.confidence,
            self.class_id,
            self.probs,
            self.face_score,
            self.landmarks,
            np.asarray(tracker_id, np.int64),
            self.data,
        )

    def counts(self) -> dict[str, int]:
        """Faces per label, labels with no face left out."""
        found = np.bincount(self.class_id, minlength=len(LABELS))
        return {label: int(n) for label, n in zip(LABELS, found.tolist()) if n}

    def faces(self) -> list[Face]:
        """A :class:`Face` per row, for code that prefers objects to columns."""
        out = []
        for box, k, score, fs, probs, marks, tid in zip(
            self.xyxy.tolist(),
            self.class_id.tolist(),
            self.confidence.tolist(),
            self.face_score.tolist(),
            self.probs.tolist(),
            self.landmarks.tolist(),
            self.tracker_id.tolist(),
        ):
            out.append(
                Face(
                    tuple(box),
                    LABELS[k],
                    score,
                    fs,
                    dict(zip(LABELS, probs)),
                    tuple(tuple(p) for p in marks),
                    tid if tid >= 0 else None,
                )
            )
        return out

    # -- supervision ---------------------------------------------------------------------
    def to_supervision(self):
        """A ``supervision.Detections`` over the same arrays (for its trackers, zones and
        annotators); probabilities, face scores and landmarks travel in ``data``."""
        import supervision as sv

        return sv.Detections(
            xyxy=self.xyxy,
            confidence=self.confidence,
            class_id=self.class_id,
            tracker_id=self.tracker_id,
            data={
                "class_name": np.array(self.labels, dtype=object).reshape(-1),
                "probs": self.probs,
                "face_score": self.face_score,
                "landmarks": self.landmarks,
                **self.data,
            },
        )

    @classmethod
    def from_supervision(cls, dets) -> Detections:
        """Back from ``supervision.Detections``; columns it lacks are filled (face score =
        confidence, probabilities one-hot on ``class_id``)."""
        n = len(dets)
        data = dict(dets.data)
        conf = np.ones(n, np.float32) if dets.confidence is None else np.asarray(dets.confidence, np.float32)
        class_id = np.zeros(n, np.int64) if dets.class_id is None else np.asarray(dets.class_id, np.int64)
        probs = data.pop("probs", None)
        if probs is None:
            probs = np.eye(len(LABELS), dtype=np.float32)[class_id]
        face_score = data.pop("face_score", conf)
        landmarks = data.pop("landmarks", np.zeros((n, N_LANDMARKS, 2), np.float32))
        data.pop("class_name", None)
        tracker = np.full(n, -1, np.int64) if dets.tracker_id is None else np.asarray(dets.tracker_id, np.int64)
        return cls(
            np.asarray(dets.xyxy, np.float32).reshape(n, 4),
            conf,
            class_id,
            np.asarray(probs, np.float32),
            np.asarray(face_score, np.float32),
            np.asarray(landmarks, np.float32),
            tracker,
            data={k: np.asarray(v) for k, v in data.items()},
        )


_COLUMNS = ("xyxy", "confidence", "class_id", "probs", "face_score", "landmarks", "tracker_id")


def face_rows(
    dets: Detections, source: str | None = None, frame: int | None = None, t: float | None = None
) -> list[dict]:
    """The JSON object of each face, the contract of ``detect --json``/``--csv`` and the REST
    API: ``image`` (when ``source`` is given), ``frame`` and ``t`` (videos and streams),
    ``track_id`` (when tracked), ``x1 y1 x2 y2`` (pixels, 0.1), ``label``, ``score`` (4
    digits) and ``landmarks`` (5 [x, y], 0.1)."""
    head: dict = {} if source is None else {"image": source}
    if frame is not None:
        head.update(frame=frame, t=round(t or 0.0, 3))
    rows = []
    for box, k, score, marks, tid in zip(
        dets.xyxy.tolist(),
        dets.class_id.tolist(),
        dets.confidence.tolist(),
        dets.landmarks.tolist(),
        dets.tracker_id.tolist(),
    ):
        row = dict(head)
        if tid >= 0:
            row["track_id"] = tid
        x1, y1, x2, y2 = (round(v, 1) for v in box)
        row.update(x1=x1, y1=y1, x2=x2, y2=y2, label=LABELS[k], score=round(score, 4))
        row["landmarks"] = [[round(x, 1), round(y, 1)] for x, y in marks]
        rows.append(row)
    return rows
