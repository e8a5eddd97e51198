"""The one-pass face-mask detector at run time: one ONNX network gives face boxes, five
landmarks and the three mask labels for a whole frame (``kind: onepass-detector`` in the
file's metadata; trained by ``maskwatch train`` with ``task: detector``).

Frames are sized by the same profiles as CenterFace (the network is CenterFace fine-tuned),
and decoded by the same :func:`~maskwatch.models.face_detector.decode_centers`; the class
probabilities are read at each kept face's centre cell. So a frame costs one network run
whatever the number of faces, where the two-stage pipeline ran the classifier per face.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..labels import LABELS
from .face_detector import PROFILES, DetectorProfile, FaceBoxes, _empty, decode_centers, fit_blob, nms
from .preprocess import longest_sides
from .runtime import open_model

KIND = "onepass-detector"
#: the ONNX outputs, in order
OUTPUTS = ("heatmap", "size", "offset", "landmarks", "probs")


def decode_onepass(outputs, scale: float, orig_wh, threshold: float, nms_iou: float) -> tuple[FaceBoxes, np.ndarray]:
    """(faces, class probabilities (N, 3) in :data:`LABELS` order) from one image's outputs
    (``heatmap, size, offset, landmarks, probs``, batch of one)."""
    heat, size, offset, lms, probs = outputs
    faces, cells = decode_centers(heat, size, offset, lms, scale, orig_wh, threshold, nms_iou)
    flat = probs[0].reshape(probs.shape[1], -1)
    return faces, flat[:, cells].T.astype(np.float32)


class OnePassFaces:
    """Thread-safe: one ONNX session. ``__call__`` gives (faces, probs) for a BGR frame."""

    def __init__(
        self,
        path: str | Path,
        profile: str | DetectorProfile,
        threads: int | None = None,
        threshold: float | None = None,
        opened: tuple | None = None,
    ):
        """``opened``: the file's (session, metadata) where the caller has read it already."""
        self.path = Path(path)
        self.session, meta = opened or open_model(self.path, threads)
        if meta.get("kind") != KIND:
            raise ModelError(f"{self.path}: a {meta.get('kind')!r} model, not a one-pass face-mask detector")
        try:
            labels = tuple(json.loads(meta["labels"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise ModelError(f"{self.path}: unreadable maskwatch metadata ({exc})") from None
        if sorted(labels) != sorted(LABELS):
            raise ModelError(f"{self.path}: model labels {labels} are not maskwatch's {LABELS}")
        self.order = [labels.index(label) for label in LABELS]
        self.metadata = meta
        self.profile = PROFILES[profile] if isinstance(profile, str) else profile
        self.threshold = self.profile.threshold if threshold is None else threshold
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, image_bgr: np.ndarray) -> tuple[FaceBoxes, np.ndarray]:
        height, width = image_bgr.shape[:2]
        if width < 8 or height < 8:
            return _empty(), np.zeros((0, len(LABELS)), np.float32)
        profile = self.profile
        faces, probs, scale = self._look(image_bgr, profile)
        if profile.second_side is None:
            return faces, probs
        second = DetectorProfile(f"{profile.name}-second", profile.second_side, profile.second_side)
        faces2, probs2, scale2 = self._look(image_bgr, second)
        keep = longest_sides(faces.boxes) * scale < profile.max_face
        keep2 = longest_sides(faces2.boxes) * scale2 >= profile.min_face
        return merge_looks([(faces, probs, keep), (faces2, probs2, keep2)], profile.nms_iou)

    def _look(self, image_bgr: np.ndarray, profile: DetectorProfile) -> tuple[FaceBoxes, np.ndarray, float]:
        """One network run at ``profile``'s size: (faces, probabilities in LABELS order, scale)."""
        height, width = image_bgr.shape[:2]
        blob, scale = fit_blob(image_bgr, profile)
        outputs = self.session.run(list(OUTPUTS), {self.input_name: blob})
        faces, probs = decode_onepass(outputs, scale, (width, height), self.threshold, profile.nms_iou)
        return faces, probs[:, self.order], scale


def merge_looks(looks: list[tuple[FaceBoxes, np.ndarray, np.ndarray]], nms_iou: float) -> tuple[FaceBoxes, np.ndarray]:
    """One frame's faces from several looks at it, each ``(faces, probs, keep)``: the kept
    faces of all, a face seen twice kept once, at its higher score (NMS)."""
    boxes = np.concatenate([f.boxes[k] for f, _, k in looks])
    scores = np.concatenate([f.scores[k] for f, _, k in looks])
    marks = np.concatenate([f.landmarks[k] for f, _, k in looks])
    probs = np.concatenate([p[k] for _, p, k in looks])
    if len(boxes) == 0:
        return _empty(), np.zeros((0, len(LABELS)), np.float32)
    keep = nms(boxes, scores, 0.0, nms_iou)
    return FaceBoxes(boxes[keep], scores[keep], marks[keep]), probs[keep]
