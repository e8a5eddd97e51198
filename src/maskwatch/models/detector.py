"""Detector: every face in a frame and its mask label, in one call, whatever the model file.

Two kinds of model file run behind it, told apart by the ONNX metadata ``kind``:
``onepass-detector`` (one network gives boxes, landmarks and labels; issue 13) and
``crop-classifier`` (CenterFace finds faces, then the classifier labels each crop: the
two-stage pipeline, kept as the baseline).

It returns every face the face network found (above the profile's face threshold) as one
:class:`~maskwatch.detections.Detections`; dropping faint faces (``min_score``) is the job of
the edge that shows them to people, so one detector serves outputs, tracking and evaluation."""

from __future__ import annotations

import json
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
from .onepass import KIND as ONEPASS
from .onepass import OnePassFaces
from .runtime import open_model
from .shipped import model_path


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
            model: an ONNX file made by ``maskwatch export`` (a one-pass detector, or a crop
                classifier run after CenterFace), or a shipped model's name, ``one-pass`` or
                ``two-stage``; None: :data:`~maskwatch.defaults.DEFAULT_MODEL`.
            profile: how large the face network sees a frame: fast, balanced or accurate.
            threads: CPU threads per ONNX session (default: every core).
            box_correction: move face boxes onto annotators' style, as the model file says.
            face_threshold: lowest face score kept (default: the profile's); evaluation lowers
                it so that the precision-recall curve is complete.
        """
        if profile not in PROFILES:
            raise ConfigError(f"profile: unknown profile {profile!r}; one of {sorted(PROFILES)}")
        self.profile = profile
        path = model_path(model)
        opened = open_model(path, threads) if path.exists() else None  # one session per file
        self.onepass: OnePassFaces | None = None
        self.classifier: MaskClassifier | None = None
        if opened and opened[1].get("kind") == ONEPASS:
            self.onepass = OnePassFaces(path, profile, threads, face_threshold, opened)
            self.metadata = opened[1]
            correction = json.loads(self.metadata.get("box_correction", "[0, 0, 0, 0]"))
        else:
            self.faces = CenterFace(profile, threads, face_threshold)
            self.classifier = MaskClassifier(path, threads, opened)
            correction = self.classifier.info.box_correction
            self.metadata = self.classifier.info.metadata
        self.kind = self.metadata.get("kind", "crop-classifier")
        self.correction = np.array(correction if box_correction else (0, 0, 0, 0), np.float32)

    @property
    def model_version(self) -> str:
        name, version = self.metadata.get("name", "model"), self.metadata.get("version", "unknown")
        if self.onepass is not None:
            return f"{name}-{version}-{self.profile}"
        return f"{name}-{version}+centerface-{self.profile}"

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

    def to_detections(self, img: np.ndarray, found: FaceBoxes, probs: np.ndarray) -> Detections:
        """One frame's faces and class probabilities as Detections, boxes corrected as the
        model file says: the last stage of :meth:`detect` (benchmarks time the stages apart)."""
        h, w = img.shape[:2]
        return Detections.from_scores(self._correct(found.boxes, w, h), found.scores, probs, found.landmarks)

    def detect(self, image) -> Detections:
        """Every face in one image (a BGR numpy array, OpenCV's convention, or a path), sorted
        by confidence. Raises :class:`~maskwatch.errors.BadInputError` for unreadable files."""
        img = self._load(image)
        if self.onepass is not None:
            return self.to_detections(img, *self.onepass(img))
        found = self.faces(img)
        return self.to_detections(img, found, self.classifier.predict_crops(self.classifier.crops(img, found.boxes)))

    def detect_batch(self, images: Sequence | Iterable) -> list[Detections]:
        """Faces for each image; the classifier runs once over all images' faces."""
        loaded = [self._load(im) for im in images]
        if self.onepass is not None:
            return [self.to_detections(img, *self.onepass(img)) for img in loaded]
        found = [self.faces(img) for img in loaded]
        crops = [c for img, f in zip(loaded, found) for c in self.classifier.crops(img, f.boxes)]
        probs = self.classifier.predict_crops(crops)
        out, start = [], 0
        for img, f in zip(loaded, found):
            n = len(f.boxes)
            out.append(self.to_detections(img, f, probs[start : start + n]))
            start += n
        return out
