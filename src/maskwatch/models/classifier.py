"""The 3-class mask classifier as an ONNX model. Its preprocessing (crop size, margin,
normalisation), label order and box correction travel in the file's metadata, so a model
trained with other settings needs no code change to run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..labels import LABELS
from .preprocess import crop_face, to_tensor
from .runtime import open_model
from .shipped import model_path, shipped_path

#: metadata a model must carry (``maskwatch export`` writes it): without it, the crop size,
#: margin and label order would be guesses, and a wrong guess gives confident wrong labels
REQUIRED_METADATA = ("kind", "labels", "input_size", "margin")


def default_model_path() -> Path:
    """The shipped crop classifier (the two-stage pipeline's)."""
    return shipped_path("two-stage")


@dataclass(frozen=True)
class ClassifierInfo:
    name: str
    version: str
    labels: tuple[str, ...]
    size: int
    margin: float
    box_correction: tuple[float, float, float, float]
    metadata: dict


class MaskClassifier:
    def __init__(self, path: str | Path | None = None, threads: int | None = None, opened: tuple | None = None):
        """``opened``: the file's (session, metadata) where the caller has read it already."""
        self.path = model_path(path) if path else default_model_path()
        if not self.path.exists():
            raise ModelError(
                f"{self.path}: classifier model not found (train one with `maskwatch train` "
                "and pass --model, or reinstall maskwatch)"
            )
        self.session, meta = opened or open_model(self.path, threads)
        missing = [k for k in REQUIRED_METADATA if k not in meta]
        if missing:
            raise ModelError(
                f"{self.path}: not a maskwatch model: its ONNX metadata lacks {', '.join(missing)} "
                "(export models with `maskwatch export` or `maskwatch train --export`)"
            )
        if meta["kind"] != "crop-classifier":
            raise ModelError(f"{self.path}: a {meta['kind']!r} model, not a face-crop mask classifier")
        try:
            labels = tuple(json.loads(meta["labels"]))
            size, margin = int(meta["input_size"]), float(meta["margin"])
        except (ValueError, TypeError) as exc:
            raise ModelError(f"{self.path}: unreadable maskwatch metadata ({exc})") from None
        unknown = set(labels) - set(LABELS)
        if unknown:
            raise ModelError(f"{self.path}: model labels {sorted(unknown)} are not maskwatch labels {LABELS}")
        self.info = ClassifierInfo(
            name=meta.get("name", self.path.stem),
            version=meta.get("version", "unknown"),
            labels=labels,
            size=size,
            margin=margin,
            box_correction=tuple(json.loads(meta.get("box_correction", "[0, 0, 0, 0]"))),
            metadata=dict(meta),
        )
        self.input_name = self.session.get_inputs()[0].name

    def crops(self, image: np.ndarray, boxes: np.ndarray) -> list[np.ndarray]:
        return [crop_face(image, b, self.info.size, self.info.margin) for b in boxes]

    def predict_crops(self, crops: list[np.ndarray]) -> np.ndarray:
        """Class probabilities (N, 3) in :data:`LABELS` order."""
        if not crops:
            return np.zeros((0, len(LABELS)), np.float32)
        logits = self.session.run(None, {self.input_name: to_tensor(crops)})[0]
        e = np.exp(logits - logits.max(1, keepdims=True))
        probs = e / e.sum(1, keepdims=True)
        order = [self.info.labels.index(label) for label in LABELS]
        return probs[:, order].astype(np.float32)
