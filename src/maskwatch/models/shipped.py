"""The model files shipped inside the package, by name: ``--model one-pass`` or
``--model two-stage`` pick them; no ``--model`` picks :data:`~maskwatch.defaults.DEFAULT_MODEL`.
Any other value is a path to a model file of the user's."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from ..defaults import DEFAULT_MODEL

#: name -> file under maskwatch/models/weights
SHIPPED = {"one-pass": "maskwatch-detector.onnx", "two-stage": "maskwatch-classifier.onnx"}


def shipped_path(name: str) -> Path:
    return Path(str(importlib.resources.files("maskwatch.models") / "weights" / SHIPPED[name]))


def model_path(model: str | Path | None) -> Path:
    """The file ``model`` names: a shipped model's name, a path, or None for the default."""
    if model is None:
        return shipped_path(DEFAULT_MODEL)
    if str(model) in SHIPPED and not Path(model).exists():
        return shipped_path(str(model))
    return Path(model)
