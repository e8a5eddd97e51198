"""Detector: faces from CenterFace, labels from the mask classifier, in one call."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..images import as_bgr, read_image
from ..labels import LABELS
from .classifier import MaskClassifier
from .face_detector import PROFILES, CenterFace, FaceBoxes

#: Default for people-facing output (CLI, API): drops faint background detections that
#: are mostly wrong. Evaluation uses 0.05 so that the PR curve is complete.
DEFAULT_MIN_SCORE = 0.3


@dataclass(frozen=True)
class Face:
    """One face: box in original pixels, label, and scores.

    ``score`` is face confidence x label probability: a detection score as COCO evaluation
    reads it. ``face_score`` and ``probs`` keep the two parts apart for analytics."""

    box: tuple[float, float, float, float]
    label: str
    score: float
    face_score: float
    probs: dict[str, float]
    landmarks: tuple[tuple[float, float], ...] | None = None
    track_id: int | None = None  # set on video frames by FaceTracker: one id per person

    def to_dict(self) -> dict:
        x1, y1, x2, y2 = (round(v, 1) for v in self.box)
        out = {"x1": x1, "y1": y1, "x2": x2, "y2": y2, "label": self.label, "score": round(self.score, 4)}
        if self.landmarks is not None:
            out["landmarks"] = [[round(x, 1), round(y, 1)] for x, y in self.landmarks]
        return out


@dataclass
class RawDetections:
    """Everything the two models said about one image (for evaluation and tracking)."""

    boxes: np.ndarray  # corrected boxes, (N, 4)
    face_scores: np.ndarray
    probs: np.ndarray  # (N, 3) in LABELS order
    landmarks: np.ndarray
    size: tuple[int, int] = field(default=(0, 0))  # (width, height)


class Detector:
    """Thread-safe face-mask detector. Sessions are created once; ``detect`` may be called
    from many threads at once (ONNX Runtime sessions are re-entrant)."""

    def __init__(
        self,
        model: str | Path | None = None,
        profile: str = "balanced",
        min_score: float = DEFAULT_MIN_SCORE,
        threads: int | None = None,
        box_correction: bool = True,
    ):
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; one of {sorted(PROFILES)}")
        threads = threads or int(os.environ.get("MASKWATCH_THREADS", 0)) or None
        self.faces = CenterFace(profile, threads)
        self.classifier = MaskClassifier(model, threads)
        self.profile = profile
        self.min_score = min_score
        self.correction = np.array(self.classifier.info.box_correction if box_correction else (0, 0, 0, 0), np.float32)

    @property
    def model_version(self) -> str:
        info = self.classifier.info
        return f"{info.name}-{info.version}+centerface-{self.profile}"

    def _load(self, image) -> np.ndarray:
        if isinstance(image, (str, os.PathLike)):
            return read_image(image)
        return as_bgr(image)

    def _correct(self, boxes: np.ndarray, width: int, height: int) -> np.ndarray:
        if not len(boxes) or not self.correction.any():
            return boxes
        w = boxes[:, 2] - boxes[:, 0]
        h = boxes[:, 3] - boxes[:, 1]
        out = boxes + self.correction[None] * np.stack([w, h, w, h], 1)
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, width)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, height)
        return out

    def detect_raw(self, image, face_threshold: float | None = None) -> RawDetections:
        img = self._load(image)
        found: FaceBoxes = self.faces(img, face_threshold)
        probs = self.classifier.predict_crops(self.classifier.crops(img, found.boxes))
        h, w = img.shape[:2]
        return RawDetections(self._correct(found.boxes, w, h), found.scores, probs, found.landmarks, (w, h))

    def to_faces(self, raw: RawDetections, min_score: float | None = None) -> list[Face]:
        threshold = self.min_score if min_score is None else min_score
        faces = []
        for box, fs, p, lm in zip(raw.boxes, raw.face_scores, raw.probs, raw.landmarks):
            k = int(p.argmax())
            score = float(fs * p[k])
            if score < threshold:
                continue
            faces.append(
                Face(
                    tuple(float(v) for v in box),
                    LABELS[k],
                    score,
                    float(fs),
                    {label: float(v) for label, v in zip(LABELS, p)},
                    tuple((float(x), float(y)) for x, y in lm),
                )
            )
        faces.sort(key=lambda f: -f.score)
        return faces

    def detect(self, image, min_score: float | None = None) -> list[Face]:
        """Faces in one image: a BGR numpy array (OpenCV's convention) or a path."""
        return self.to_faces(self.detect_raw(image), min_score)

    def detect_batch(self, images: Sequence | Iterable, min_score: float | None = None) -> list[list[Face]]:
        """Faces for each image; the classifier runs once over all images' faces."""
        loaded = [self._load(im) for im in images]
        found = [self.faces(img) for img in loaded]
        crops = [c for img, f in zip(loaded, found) for c in self.classifier.crops(img, f.boxes)]
        probs = self.classifier.predict_crops(crops)
        out, start = [], 0
        for img, f in zip(loaded, found):
            n = len(f.boxes)
            h, w = img.shape[:2]
            raw = RawDetections(self._correct(f.boxes, w, h), f.scores, probs[start : start + n], f.landmarks, (w, h))
            out.append(self.to_faces(raw, min_score))
            start += n
        return out
