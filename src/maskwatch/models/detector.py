"""Detector: faces from CenterFace, labels from the mask classifier, in one call.

It returns every face the face network found (above the profile's face threshold) as one
:class:`~maskwatch.detections.Detections`; dropping faint faces (``min_score``) is the job of
the edge that shows them to people, so one detector serves outputs, tracking and evaluation."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..defaults import DEFAULT_PROFILE
from ..detections import Detections
from ..errors import ConfigError
from ..images import as_bgr, read_image
from .classifier import MaskClassifier
from .face_detector import PROFILES, CenterFace, FaceBoxes


class Detector:
    """Thread-safe face-mask detector. Sessions are created once; ``detect`` may be called
    from many threads at once (ONNX Runtime sessions are re-entrant)."""

    def __init__(
        self,
        model: str | Path | None = None,
        profile: str = DEFAULT_PROFILE,
        threads: int | None = None,
        box_correction: bool = True,
        face_threshold: float | None = None,
    ):
        """Load the models once.

        Args:
            model: a classifier ONNX file made by ``maskwatch export`` (default: the shipped one).
            profile: how large the face network sees a frame: fast, balanced or accurate.
            threads: CPU threads per ONNX session (default: every core).
            box_correction: move face boxes onto annotators' style, as the model file says.
            face_threshold: lowest face score kept (default: the profile's); evaluation lowers
                it so that the precision-recall curve is complete.
        """
        if profile not in PROFILES:
            raise ConfigError(f"profile: unknown profile {profile!r}; one of {sorted(PROFILES)}")
        self.faces = CenterFace(profile, threads, face_threshold)
        self.classifier = MaskClassifier(model, threads)
        self.profile = profile
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

    def _detections(self, img: np.ndarray, found: FaceBoxes, probs: np.ndarray) -> Detections:
        h, w = img.shape[:2]
        return Detections.from_scores(self._correct(found.boxes, w, h), found.scores, probs, found.landmarks)

    def detect(self, image) -> Detections:
        """Every face in one image (a BGR numpy array, OpenCV's convention, or a path), sorted
        by confidence. Raises :class:`~maskwatch.errors.BadInputError` for unreadable files."""
        img = self._load(image)
        found = self.faces(img)
        return self._detections(img, found, self.classifier.predict_crops(self.classifier.crops(img, found.boxes)))

    def detect_batch(self, images: Sequence | Iterable) -> list[Detections]:
        """Faces for each image; the classifier runs once over all images' faces."""
        loaded = [self._load(im) for im in images]
        found = [self.faces(img) for img in loaded]
        crops = [c for img, f in zip(loaded, found) for c in self.classifier.crops(img, f.boxes)]
        probs = self.classifier.predict_crops(crops)
        out, start = [], 0
        for img, f in zip(loaded, found):
            n = len(f.boxes)
            out.append(self._detections(img, f, probs[start : start + n]))
            start += n
        return out
